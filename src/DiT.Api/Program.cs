using DiT.Api.Admin;
using DiT.Api.Caching;
using DiT.Api.Classes;
using DiT.Api.Generate;
using DiT.Api.Generations;
using DiT.Api.Health;
using DiT.Api.Imaging;
using DiT.Api.ModelInfo;
using DiT.Api.OpenApi;
using DiT.Api.Options;
using DiT.Api.Playground;
using DiT.Api.Problems;
using DiT.Api.Promotions;
using DiT.Api.RateLimiting;
using DiT.Api.Security;
using DiT.Api.Shutdown;
using DiT.Api.Startup;
using DiT.Api.Telemetry;
using DiT.Api.Training;
using DiT.Api.Webhooks;
using DiT.Serving.Engine;

try
{
    var builder = WebApplication.CreateBuilder(args).AddStartupFailureReport();

    builder.Services.AddProblems();
    builder.Services.AddSecurity();
    builder.Services.AddInFlightRequests(); // before the engine: stops after it, once the answers are written
    builder.Services.AddDiTTelemetry(builder.Configuration);
    builder.Services.AddInferenceEngine();
    builder.Services.AddImageCache(builder.Configuration);
    builder.Services.AddImaging();
    builder.Services.AddWebhooks(); // before the jobs: stops after them, so the last jobs' webhooks are queued
    builder.Services.AddGenerations();
    builder.Services.AddRateLimits();
    builder.Services.AddGenerate();
    builder.Services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.Section);
    builder.Services.AddTrainingJobs(builder.Configuration);
    builder.Services.AddPromotions();
    builder.Services.AddHealth();
    builder.Services.AddSwagger(builder.Configuration);

    var app = builder.Build();

    app.UseSecurityHeaders();
    app.UseInFlightRequests();
    app.UseProblems();
    app.UseRequestTimeouts();
    app.UseRateLimiter();
    app.MapSwagger();
    app.MapPlayground();
    app.MapHealthApi();
    app.MapDiTTelemetry();
    app.MapGenerateApi();
    app.MapGenerationsApi();
    app.MapClassesApi();
    app.MapModelApi();
    app.MapAdminApi();
    app.MapTrainingApi(app.Configuration);

    return await app.RunServiceAsync();
}
catch (Exception e) when (StartupFailure.IsOwnProcess) // under WebApplicationFactory the exception is the test host's
{
    return StartupFailure.Report(e);
}

/// <summary>Entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
