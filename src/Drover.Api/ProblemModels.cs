namespace Drover.Api;

/// <summary>The body of every API error: RFC 7807 problem details (<c>application/problem+json</c>). <see cref="Code"/> is
/// the stable machine-readable kind (one of <see cref="ProblemCodes"/>), also the last segment of <see cref="Type"/>
/// (<c>urn:drover:problem:CODE</c>); <see cref="Title"/> is the kind in words, the same for every problem of that code;
/// <see cref="Detail"/> says what went wrong with this request, for a person. Clients compare codes, never texts.</summary>
public sealed record ApiProblem(string Type, string Title, int Status, string Detail, string Code)
{
    /// <summary>The media type of a problem answer.</summary>
    public const string MediaType = "application/problem+json";

    /// <summary>A problem of <paramref name="code"/> (see <see cref="ProblemCodes"/>) with its type and title.</summary>
    public static ApiProblem Of(string code, int status, string detail) =>
        new(ProblemCodes.TypePrefix + code, ProblemCodes.TitleOf(code), status, detail, code);
}

/// <summary>The codes of <see cref="ApiProblem"/> (docs/http-api.md, "Errors"). A code never changes its meaning; new
/// ones may be added.</summary>
public static class ProblemCodes
{
    /// <summary>What <see cref="ApiProblem.Type"/> starts with; the code follows.</summary>
    public const string TypePrefix = "urn:drover:problem:";

    /// <summary>400: a query parameter is malformed, out of range or unknown.</summary>
    public const string InvalidParameter = "invalid-parameter";

    /// <summary>400: the request body is malformed (content type, multipart framing, empty upload).</summary>
    public const string InvalidBody = "invalid-body";

    /// <summary>400: the Host header is not a name of this hub (DNS rebinding guard).</summary>
    public const string UnknownHost = "unknown-host";

    /// <summary>401: no token, or not a live one.</summary>
    public const string Unauthenticated = "unauthenticated";

    /// <summary>403: a write from another origin.</summary>
    public const string CrossOrigin = "cross-origin";

    /// <summary>403: the token's scope does not cover the endpoint.</summary>
    public const string InsufficientScope = "insufficient-scope";

    /// <summary>404: the named agent, job, result, token or credential does not exist.</summary>
    public const string NotFound = "not-found";

    /// <summary>404: no route has this path.</summary>
    public const string NoRoute = "no-route";

    /// <summary>405: the route exists, not with this method.</summary>
    public const string MethodNotAllowed = "method-not-allowed";

    /// <summary>409: the resource is in a state that does not allow this (a finished job, a revoked token).</summary>
    public const string Conflict = "conflict";

    /// <summary>413: a file or the request is over a limit.</summary>
    public const string TooLarge = "too-large";

    /// <summary>429: the token's share of the job queue is used up (Retry-After).</summary>
    public const string QuotaExceeded = "quota-exceeded";

    /// <summary>503: the job queue is full (Retry-After).</summary>
    public const string QueueFull = "queue-full";

    /// <summary>503: the hub is starting (Retry-After).</summary>
    public const string Starting = "starting";

    /// <summary>500: the store failed; nothing of the request was stored.</summary>
    public const string StoreFailed = "store-failed";

    /// <summary>507: the store's disk is full; nothing of the request was stored.</summary>
    public const string StoreFull = "store-full";

    /// <summary>Every code, for the documentation test.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        InvalidParameter, InvalidBody, UnknownHost, Unauthenticated, CrossOrigin, InsufficientScope, NotFound, NoRoute,
        MethodNotAllowed, Conflict, TooLarge, QuotaExceeded, QueueFull, Starting, StoreFailed, StoreFull,
    ];

    /// <summary>The fixed title of <paramref name="code"/>.</summary>
    public static string TitleOf(string code) => code switch
    {
        InvalidParameter => "Invalid query parameter",
        InvalidBody => "Invalid request body",
        UnknownHost => "Unknown host",
        Unauthenticated => "No valid token",
        CrossOrigin => "Cross-origin write refused",
        InsufficientScope => "Token scope too narrow",
        NotFound => "Not found",
        NoRoute => "No such route",
        MethodNotAllowed => "Method not allowed",
        Conflict => "Conflict with the current state",
        TooLarge => "Too large",
        QuotaExceeded => "Queue share of the token used up",
        QueueFull => "Job queue full",
        Starting => "Hub starting",
        StoreFailed => "Store failure",
        StoreFull => "Store full",
        _ => "Error",
    };
}
