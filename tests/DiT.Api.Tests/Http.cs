using System.Net.Http.Json;
using System.Text;

namespace DiT.Api.Tests;

/// <summary>Small helpers for calling the service in tests.</summary>
public static class Http
{
    public static Task<HttpResponseMessage> GenerateAsync(this HttpClient client, object body, CancellationToken ct = default) =>
        client.PostAsJsonAsync("/generate", body, ct);

    public static Task<HttpResponseMessage> PostRawAsync(this HttpClient client, string body, string contentType = "application/json") =>
        client.PostAsync("/generate", new StringContent(body, Encoding.UTF8, contentType));

    public static string Header(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";
}
