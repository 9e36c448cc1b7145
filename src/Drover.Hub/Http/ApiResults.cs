using System.Globalization;
using Drover.Api;
using Drover.Storage;
using Microsoft.AspNetCore.Http;

namespace Drover.Hub.Http;

/// <summary>The answers every endpoint shares: an error is always an RFC 7807 <see cref="ApiProblem"/> with a stable
/// code (<see cref="ProblemCodes"/>), and every 400 says what is wrong.</summary>
internal static class ApiResults
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1000;

    /// <summary>An integer query value in [<paramref name="min"/>, <paramref name="max"/>], or
    /// <paramref name="fallback"/> when it is absent. Parsed here rather than bound by the framework, whose
    /// binding failure is a 400 without a body: every 400 of this API says what is wrong.</summary>
    public static bool TryParseQueryInt(string? text, int fallback, int min, int max, out int value)
    {
        value = fallback;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value)
            && value >= min && value <= max;
    }

    /// <summary>A store failure as an answer: 507 Insufficient Storage when the store is full (the disk, or its size
    /// cap: the operator frees space and the same request then succeeds), else 500 with the store's message.
    /// <paramref name="consequence"/> says what became of the request (nothing of it was stored).</summary>
    public static IResult StoreFailed(StoreException ex, string consequence) => ex.IsFull
        ? Problem(ProblemCodes.StoreFull, StatusCodes.Status507InsufficientStorage, $"the hub's disk is full: {ex.Message}; {consequence}")
        : Problem(ProblemCodes.StoreFailed, StatusCodes.Status500InternalServerError, ex.Message);

    public static IResult NoJob(string id) => NotFound($"no job '{id}'");

    public static IResult NotFound(string detail) => Problem(ProblemCodes.NotFound, StatusCodes.Status404NotFound, detail);

    public static IResult Conflict(string detail) => Problem(ProblemCodes.Conflict, StatusCodes.Status409Conflict, detail);

    /// <summary>400 <see cref="ProblemCodes.InvalidParameter"/>: a query parameter is wrong.</summary>
    public static IResult BadRequest(string detail) => Problem(ProblemCodes.InvalidParameter, StatusCodes.Status400BadRequest, detail);

    /// <summary>400 <see cref="ProblemCodes.InvalidBody"/>: the body is wrong.</summary>
    public static IResult BadBody(string detail) => Problem(ProblemCodes.InvalidBody, StatusCodes.Status400BadRequest, detail);

    public static IResult TooLarge(string detail) => Problem(ProblemCodes.TooLarge, StatusCodes.Status413PayloadTooLarge, detail);

    /// <summary>An RFC 7807 answer of <paramref name="code"/> (<see cref="ProblemCodes"/>).</summary>
    public static IResult Problem(string code, int status, string detail) =>
        Results.Json(ApiProblem.Of(code, status, detail), ApiJsonContext.Default.ApiProblem, ApiProblem.MediaType, status);

    /// <summary>Writes an RFC 7807 answer outside an endpoint (the gate, the start, the framework's 404 and 405).</summary>
    public static Task WriteProblemAsync(HttpContext context, string code, int status, string detail)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(ApiProblem.Of(code, status, detail), ApiJsonContext.Default.ApiProblem, ApiProblem.MediaType);
    }
}
