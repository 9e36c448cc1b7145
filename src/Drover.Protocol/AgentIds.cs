using System.Text;

namespace Drover.Protocol;

/// <summary>The rule for agent ids: 1 to 128 UTF-8 bytes of [A-Za-z0-9._:@-].</summary>
public static class AgentIds
{
    public static bool IsValid(string? id, out string reason)
    {
        if (string.IsNullOrEmpty(id))
        {
            reason = "agent id is empty";
            return false;
        }

        var bytes = Encoding.UTF8.GetByteCount(id);
        if (bytes > ProtocolConstants.MaxAgentIdLength)
        {
            reason = $"agent id is {bytes} bytes long; the limit is {ProtocolConstants.MaxAgentIdLength}";
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '@' or '-'))
            {
                reason = $"agent id has the character U+{(int)c:X4}; allowed are A-Z a-z 0-9 . _ : @ -";
                return false;
            }
        }

        reason = string.Empty;
        return true;
    }

    /// <summary>The rule for agent keys (hello's <c>agent_key</c>, key_rotate's <c>new_key</c>): 16 to 256 characters of
    /// [A-Za-z0-9_-], the base64url alphabet.</summary>
    public static bool IsValidKey(string key, out string reason)
    {
        if (key.Length is < 16 or > 256 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            reason = $"an agent key is 16 to 256 characters of A-Z a-z 0-9 - _; this one is {key.Length} characters" + (key.Length is >= 16 and <= 256 ? " with others" : string.Empty);
            return false;
        }

        reason = string.Empty;
        return true;
    }
}
