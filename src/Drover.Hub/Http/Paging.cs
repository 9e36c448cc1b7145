using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Drover.Api;
using Microsoft.AspNetCore.Http;

namespace Drover.Hub.Http;

/// <summary>The one paging convention of every list (docs/http-api.md, "Paging"): <c>limit</c> (1 to
/// <see cref="ApiResults.MaxPageSize"/>, default <see cref="ApiResults.DefaultPageSize"/>) and an opaque <c>cursor</c>, the
/// <c>next</c> of the previous page. A cursor is the base64url of <c>LIST:KEY</c>, the position after the page's last item
/// in that list's order; clients must not build or read them (the key changes with the list's order). Also the filters
/// several lists share: <c>since</c> (ISO 8601) and <c>label</c> (repeatable <c>key=value</c>).</summary>
internal readonly record struct Paging(int Limit, string? After)
{
    /// <summary>Reads <c>limit</c> and <c>cursor</c> for list <paramref name="list"/>; on failure <paramref name="error"/> is the 400.</summary>
    public static bool TryRead(IQueryCollection query, string list, out Paging paging, out IResult? error)
    {
        paging = default;
        if (!ApiResults.TryParseQueryInt(query["limit"], ApiResults.DefaultPageSize, 1, ApiResults.MaxPageSize, out var limit))
        {
            error = ApiResults.BadRequest($"limit must be a whole number from 1 to {ApiResults.MaxPageSize}");
            return false;
        }

        string? after = null;
        if (query["cursor"].ToString() is { Length: > 0 } cursor && !TryDecode(cursor, list, out after))
        {
            error = ApiResults.BadRequest($"cursor '{Protocol.LogText.Escape(cursor, 100)}' is not a cursor of this list; pass the 'next' of the previous page unchanged");
            return false;
        }

        paging = new Paging(limit, after);
        error = null;
        return true;
    }

    /// <summary>The cursor of the position after <paramref name="key"/> in list <paramref name="list"/>.</summary>
    public static string Encode(string list, string key) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(list + ":" + key));

    private static bool TryDecode(string cursor, string list, out string? key)
    {
        key = null;
        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor));
            if (!text.StartsWith(list + ":", StringComparison.Ordinal))
            {
                return false;
            }

            key = text[(list.Length + 1)..];
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary><c>since</c>: an ISO 8601 time with an offset (or Z); null when absent.</summary>
    public static bool TryReadSince(IQueryCollection query, out DateTimeOffset? since, out IResult? error)
    {
        since = null;
        error = null;
        if (query["since"].ToString() is not { Length: > 0 } text)
        {
            return true;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            error = ApiResults.BadRequest($"since '{Protocol.LogText.Escape(text, 100)}' is not an ISO 8601 time (like 2026-12-01T08:00:00Z)");
            return false;
        }

        since = parsed.ToUniversalTime();
        return true;
    }

    /// <summary><c>label=key=value</c>, repeatable: every one must match.</summary>
    public static bool TryReadLabels(IQueryCollection query, out List<KeyValuePair<string, string>> selectors, out IResult? error)
    {
        selectors = [];
        error = null;
        foreach (var selector in query["label"])
        {
            var equals = selector?.IndexOf('=', StringComparison.Ordinal) ?? -1;
            if (equals <= 0)
            {
                error = ApiResults.BadRequest($"label selector '{Protocol.LogText.Escape(selector, 100)}' must look like key=value");
                return false;
            }

            selectors.Add(new(selector![..equals], selector[(equals + 1)..]));
        }

        return true;
    }
}
