using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace DiT.Api.Tests;

/// <summary>
/// The status the service answered each tagged request with (<c>?tag=...</c>), recorded at the front of the pipeline when
/// the request is done, even if its client has already gone. Tests await <see cref="Of"/>: no polling.
/// </summary>
public sealed class AnsweredStatuses : IStartupFilter
{
    readonly ConcurrentDictionary<string, TaskCompletionSource<int>> _answers = new();

    public Task<int> Of(string tag) => Answer(tag).Task.WaitAsync(Hang.Guard);

    TaskCompletionSource<int> Answer(string tag) => _answers.GetOrAdd(tag, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, rest) =>
        {
            int status = 500; // what Kestrel answers when an exception escapes the whole pipeline
            try
            {
                await rest(context);
                status = context.Response.StatusCode;
            }
            finally
            {
                if (context.Request.Query["tag"] is [{ } tag]) Answer(tag).TrySetResult(status);
            }
        });
        next(app);
    };
}
