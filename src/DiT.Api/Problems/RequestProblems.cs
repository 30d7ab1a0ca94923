namespace DiT.Api.Problems;

/// <summary>Answers to requests that cannot be read: field errors with any 4xx status, and broken transport.</summary>
public static class RequestProblems
{
    /// <summary>A ValidationProblem-shaped answer (<c>errors</c> keyed by field) with a status other than 400 where the
    /// failure calls for one: 408, 413, 415.</summary>
    public static ProblemHttpResult Fields(int status, string title, IDictionary<string, string[]> errors) =>
        TypedResults.Problem(new HttpValidationProblemDetails(errors) { Status = status, Title = title });

    /// <summary>Kestrel could not read the request. Mostly a <see cref="BadHttpRequestException"/>, but a chunk size too
    /// large for an int comes out of Kestrel's chunked-body parser as a plain IOException (an OverflowException inside),
    /// so an IOException thrown by Kestrel's own code counts too; an IOException of the service's own files does not.</summary>
    public static bool IsUnreadableRequest(Exception e) =>
        e is BadHttpRequestException
        || (e is IOException && e.TargetSite?.DeclaringType?.Namespace?.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) == true);

    /// <summary>Status and message for a request Kestrel could not read (<see cref="IsUnreadableRequest"/>): never its exception text.</summary>
    public static (int Status, string Message) Transport(Exception e) => (e as BadHttpRequestException)?.StatusCode switch
    {
        StatusCodes.Status408RequestTimeout => (StatusCodes.Status408RequestTimeout, "The body arrived more slowly than the server's minimum data rate; send it without pauses."),
        StatusCodes.Status413PayloadTooLarge => (StatusCodes.Status413PayloadTooLarge, "The body is larger than the server accepts."),
        _ => (StatusCodes.Status400BadRequest, "The request could not be read: malformed chunked encoding, or a body shorter than its Content-Length."),
    };
}
