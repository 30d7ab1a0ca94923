using DiT.Api.Admin;
using DiT.Api.Caching;
using DiT.Api.Classes;
using DiT.Api.Engine;
using DiT.Api.Generate;
using DiT.Api.Health;
using DiT.Api.ModelInfo;
using DiT.Api.OpenApi;
using DiT.Api.Options;
using DiT.Api.Problems;
using DiT.Api.Telemetry;

var builder = WebApplication.CreateBuilder(args);

builder.Services.AddProblems();
builder.Services.AddDiTTelemetry(builder.Configuration);
builder.Services.AddInferenceEngine();
builder.Services.AddImageCache(builder.Configuration);
builder.Services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.Section);
builder.Services.AddHealth();
builder.Services.AddSwagger();

var app = builder.Build();

app.UseProblems();
app.MapSwagger();
app.MapHealthApi();
app.MapDiTTelemetry();
app.MapGenerateApi();
app.MapClassesApi();
app.MapModelApi();
app.MapAdminApi();

app.Run();

/// <summary>Entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
