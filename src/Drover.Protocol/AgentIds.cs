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
}
