using System.Globalization;
using System.Text;
using Drover.Api;
using Drover.Protocol;
using Microsoft.AspNetCore.Http;

namespace Drover.Hub.Http;

/// <summary>The settings every job of one POST /api/jobs shares, from its query string, and the checks of a job's
/// target and file name.</summary>
internal sealed record JobSubmitParameters(string? Name, JobTarget Target, string Args, TimeSpan Timeout, int Retries, int Priority)
{
    /// <summary>Most retries a job may ask for.</summary>
    internal const int MaxRetries = 100;

    /// <summary>Longest job timeout.</summary>
    internal static readonly TimeSpan MaxJobTimeout = TimeSpan.FromHours(24);

    /// <summary>Longest <c>args</c>, in UTF-8 bytes (the job frame carries it as a u16-length string, and it
    /// becomes an environment variable and command-line arguments on the agent).</summary>
    internal const int MaxArgsBytes = 8 * 1024;

    /// <summary>Longest file name kept, in characters.</summary>
    internal const int MaxFileNameLength = 255;

    private static readonly TimeSpan DefaultJobTimeout = TimeSpan.FromMinutes(5);
    private const int DefaultRetries = 2;

    /// <summary>The query parameters of POST /api/jobs; any other is refused.</summary>
    private static readonly string[] Names = ["name", "to", "args", "timeout", "retries", "priority"];

    /// <summary>Parses the query of a POST /api/jobs; each parameter at most once.</summary>
    public static bool TryParse(IQueryCollection query, out JobSubmitParameters parameters, out string problem)
    {
        parameters = null!;
        foreach (var (key, values) in query)
        {
            if (!Names.Contains(key))
            {
                // A misspelt parameter silently taking its default (timeoutt=5s → 5m) is worse than a refusal.
                problem = $"unknown query parameter '{key}'; the parameters are {string.Join(", ", Names)}";
                return false;
            }

            if (values.Count > 1)
            {
                problem = $"query parameter '{key}' is given more than once";
                return false;
            }
        }

        string? Get(string key) => query.TryGetValue(key, out var values) ? values.ToString() : null;

        if (!TryParseTarget(Get("to") ?? "random", out var target, out problem))
        {
            return false;
        }

        var timeout = DefaultJobTimeout;
        if (Get("timeout") is { } timeoutText)
        {
            if (!DurationText.TryParse(timeoutText, out timeout))
            {
                problem = $"timeout '{timeoutText}' is not a duration; use {DurationText.Examples}";
                return false;
            }

            if (timeout < TimeSpan.FromMilliseconds(1) || timeout > MaxJobTimeout)
            {
                problem = $"timeout must be more than 0 and at most 24h, got '{timeoutText}'";
                return false;
            }
        }

        var retries = DefaultRetries;
        if (Get("retries") is { } retriesText
            && (!int.TryParse(retriesText, NumberStyles.None, CultureInfo.InvariantCulture, out retries) || retries > MaxRetries))
        {
            problem = $"retries must be a whole number from 0 to {MaxRetries}, got '{retriesText}'";
            return false;
        }

        var priority = 0;
        if (Get("priority") is { } priorityText && !int.TryParse(priorityText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out priority))
        {
            problem = $"priority must be a whole number, got '{priorityText}'";
            return false;
        }

        var args = Get("args") ?? string.Empty;
        if (args.Contains('\0', StringComparison.Ordinal))
        {
            problem = "args cannot contain a NUL character";
            return false;
        }

        var argsBytes = Encoding.UTF8.GetByteCount(args);
        if (argsBytes > MaxArgsBytes)
        {
            problem = $"args is {argsBytes} bytes long; the limit is {MaxArgsBytes}";
            return false;
        }

        var name = Get("name");
        if (name is { Length: 0 })
        {
            name = null;
        }

        parameters = new JobSubmitParameters(name, target, args, timeout, retries, priority);
        problem = string.Empty;
        return true;
    }

    /// <summary>The <c>to</c> parameter: see <see cref="JobTarget.TryParse"/>.</summary>
    internal static bool TryParseTarget(string text, out JobTarget target, out string problem)
    {
        if (JobTarget.TryParse(text, out target, out var error))
        {
            problem = string.Empty;
            return true;
        }

        problem = "to " + error;
        return false;
    }

    /// <summary>A client's file name, made safe to keep and show: control characters (NUL included)
    /// removed, only the last path segment ('/' or '\' separated) kept, at most
    /// <see cref="MaxFileNameLength"/> characters (never splitting a surrogate pair); "file" when nothing
    /// (or only "." or "..") is left. It stays metadata: no agent uses it as a path.</summary>
    internal static string CleanFileName(string? raw)
    {
        if (string.IsNullOrEmpty(raw))
        {
            return "file";
        }

        var builder = new StringBuilder(Math.Min(raw.Length, MaxFileNameLength));
        foreach (var c in raw)
        {
            if (c is '/' or '\\')
            {
                builder.Clear();
            }
            else if (!char.IsControl(c))
            {
                builder.Append(c);
            }
        }

        if (builder.Length > MaxFileNameLength)
        {
            var cut = char.IsHighSurrogate(builder[MaxFileNameLength - 1]) ? MaxFileNameLength - 1 : MaxFileNameLength;
            builder.Length = cut;
        }

        var name = builder.ToString();
        return name is "" or "." or ".." ? "file" : name;
    }
}
