using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json;

namespace DiT.Cli.Commands;

/// <summary>
/// `dit load --mode jobs`: the job API as a client uses it. Each job is submitted, followed on its event stream, and each
/// image is downloaded as soon as its "image" event arrives; time to first image runs from the submit to the end of
/// that download, time to done until every image is downloaded.
/// </summary>
static class JobsLoad
{
    public static async Task<LoadCommand.Phase> RunAsync(HttpClient http, LoadCommand.Settings s, int n, int jobsInFlight)
    {
        int jobs = Math.Max(1, s.Requests / n);
        var samples = new List<LoadCommand.Sample>();
        int next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, jobsInFlight).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < jobs)
            {
                var sample = await RunJobAsync(http, s, i, n);
                lock (samples) samples.Add(sample);
            }
        }));
        return new LoadCommand.Phase(samples, wall.Elapsed);
    }

    static async Task<LoadCommand.Sample> RunJobAsync(HttpClient http, LoadCommand.Settings s, int i, int n)
    {
        var started = Stopwatch.StartNew();
        var body = JsonSerializer.SerializeToNode(s.Body(i))!.AsObject();
        body["n"] = n;
        using var submitted = await http.PostAsJsonAsync("/generations", body);
        if (!submitted.IsSuccessStatusCode)
            throw new InvalidOperationException($"/generations answered {(int)submitted.StatusCode}: {await submitted.Content.ReadAsStringAsync()}");
        var id = (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        double firstMs = double.NaN;
        var downloads = new List<Task>();
        var seen = new HashSet<int>();
        using var events = await http.GetAsync($"/generations/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        events.EnsureSuccessStatusCode();
        await foreach (var item in SseParser.Create(await events.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            using var data = JsonDocument.Parse(item.Data);
            var images = item.EventType switch
            {
                "image" => [data.RootElement],
                "job" or "end" => data.RootElement.GetProperty("images").EnumerateArray().ToArray(),
                _ => [],
            };
            foreach (var image in images.Where(im => seen.Add(im.GetProperty("index").GetInt32())))
            {
                var url = image.GetProperty("url").GetString()!;
                downloads.Add(DownloadAsync(http, url, () =>
                {
                    lock (downloads) if (double.IsNaN(firstMs)) firstMs = started.Elapsed.TotalMilliseconds;
                }));
            }
            if (item.EventType != "end") continue;
            var status = data.RootElement.GetProperty("status").GetString();
            if (status != "succeeded") throw new InvalidOperationException($"job {id} ended {status}: {item.Data}");
            break;
        }
        await Task.WhenAll(downloads);
        return new LoadCommand.Sample(firstMs, started.Elapsed.TotalMilliseconds, n, 0);
    }

    static async Task DownloadAsync(HttpClient http, string url, Action downloaded)
    {
        var bytes = await http.GetByteArrayAsync(url);
        if (bytes.Length > 0) downloaded();
    }
}
