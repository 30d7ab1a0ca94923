namespace DiT.Api.Problems;

/// <summary>Answers to requests that cannot be read: field errors with any 4xx status, and broken transport.</summary>
public static class RequestProblems
{
    /// <summary>A ValidationProblem-shaped answer (<c>errors</c> keyed by field) with a status other than 400 where the
    /// failure calls for one: 408, 413, 415.</summary>
    public static ProblemHttpResult Fields(int status, string title, IDictionary<string, string[]> errors) =>
        TypedResults.Problem(new HttpValidationProblemDetails(errors) { Status = status, Title = title });

    /// <summary>Status and message for a body Kestrel could not read (<see cref="BadHttpRequestException"/>): never its exception text.</summary>
    public static (int Status, string Message) Transport(BadHttpRequestException e) => e.StatusCode switch
    {
        StatusCodes.Status408RequestTimeout => (e.StatusCode, "The body arrived more slowly than the server's minimum data rate; send it without pauses."),
        StatusCodes.Status413PayloadTooLarge => (e.StatusCode, "The body is larger than the server accepts."),
        _ => (StatusCodes.Status400BadRequest, "The request could not be read: malformed chunked encoding, or a body shorter than its Content-Length."),
    };
}
