namespace Drover.Hub.Security;

/// <summary>What an API token allows; each scope includes the ones below it. <see cref="Read"/>: every GET (agents,
/// stats, jobs, results). <see cref="Submit"/>: also submit and cancel jobs. <see cref="Admin"/>: also make, list and revoke
/// tokens and read the audit log.</summary>
public enum ApiScope
{
    /// <summary>Read everything the API shows.</summary>
    Read = 1,

    /// <summary>Read, and submit and cancel jobs: that is, run commands on the fleet.</summary>
    Submit = 2,

    /// <summary>Everything: tokens and the audit log too.</summary>
    Admin = 3,
}

/// <summary>The scopes' names as the API and the CLI write them.</summary>
public static class ApiScopes
{
    /// <summary>The names, lowest first.</summary>
    public static IReadOnlyList<string> Names { get; } = ["read", "submit", "admin"];

    public static string Name(this ApiScope scope) => scope switch
    {
        ApiScope.Read => "read",
        ApiScope.Submit => "submit",
        ApiScope.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(scope), scope, "not a scope"),
    };

    public static bool TryParse(string? text, out ApiScope scope)
    {
        scope = text switch
        {
            "read" => ApiScope.Read,
            "submit" => ApiScope.Submit,
            "admin" => ApiScope.Admin,
            _ => 0,
        };
        return scope != 0;
    }
}
