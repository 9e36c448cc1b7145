using System.Globalization;

namespace Drover.Agent.Internal.Session;

/// <summary>A parsed "host:port" hub address. IPv6 literals are written in brackets: "[::1]:7400".</summary>
internal readonly record struct HubAddress(string Host, int Port)
{
    public static bool TryParse(string? text, out HubAddress address, out string error)
    {
        address = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "hub address is empty; expected host:port";
            return false;
        }

        string host;
        string portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                error = $"hub address '{text}' is not [ipv6]:port";
                return false;
            }

            host = text[1..close];
            portText = text[(close + 2)..];
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = $"hub address '{text}' is not host:port";
                return false;
            }

            host = text[..colon];
            portText = text[(colon + 1)..];
        }

        if (host.Length == 0 || host.Any(char.IsWhiteSpace))
        {
            error = $"hub address '{text}' has an empty or invalid host";
            return false;
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            error = $"hub address '{text}' has an invalid port '{portText}' (1-65535)";
            return false;
        }

        address = new HubAddress(host, port);
        error = string.Empty;
        return true;
    }

    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
