namespace DiT.Api.Problems;

/// <summary>The service's shared problem answers.</summary>
public static class ProblemResults
{
    public static ProblemHttpResult NotReady() => TypedResults.Problem(
        title: "Model not loaded", statusCode: StatusCodes.Status503ServiceUnavailable,
        detail: "The model is still loading; retry shortly (GET /health/ready says when).");

    public static ProblemHttpResult QueueFull(int capacity) => TypedResults.Problem(
        title: "Too many requests", statusCode: StatusCodes.Status429TooManyRequests,
        detail: $"The generation queue is full ({capacity} requests waiting); retry after the Retry-After delay.");
}
