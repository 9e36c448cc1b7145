using System.Globalization;
using Drover.Api;
using Drover.Storage;
using Microsoft.AspNetCore.Http;

namespace Drover.Hub.Http;

/// <summary>The answers every endpoint shares: an error is always <see cref="ApiError"/> JSON, and every 400 says
/// what is wrong.</summary>
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
        ? Error($"the hub's disk is full: {ex.Message}; {consequence}", StatusCodes.Status507InsufficientStorage)
        : Error(ex.Message, StatusCodes.Status500InternalServerError);

    public static IResult NoJob(string id) => Error($"no job '{id}'", StatusCodes.Status404NotFound);

    public static IResult BadRequest(string message) => Error(message, StatusCodes.Status400BadRequest);

    public static IResult TooLarge(string message) => Error(message, StatusCodes.Status413PayloadTooLarge);

    public static IResult Error(string message, int status) => Results.Json(new ApiError(message), ApiJsonContext.Default.ApiError, statusCode: status);
}
