using Microsoft.AspNetCore.Diagnostics;

namespace DiT.Api.Problems;

/// <summary>
/// The safety net for a request Kestrel cannot read (a body with a bad chunk, shorter than its Content-Length, or too
/// slow; <see cref="RequestProblems.IsUnreadableRequest"/>) wherever it is read: a 4xx ProblemDetails and one warning line, never a 500 with a stack trace. An exception
/// handled here is not logged again by the exception handler middleware.
/// </summary>
public sealed partial class BadRequestExceptionHandler(IProblemDetailsService problems, ILogger<BadRequestExceptionHandler> log) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        if (!RequestProblems.IsUnreadableRequest(exception)) return false;
        var (status, message) = RequestProblems.Transport(exception);
        LogUnreadable(http.Request.Method, http.Request.Path, status);
        http.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = { Status = status, Title = "Unreadable request", Detail = message },
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path}: unreadable request answered {Status}")]
    partial void LogUnreadable(string method, string path, int status);
}
