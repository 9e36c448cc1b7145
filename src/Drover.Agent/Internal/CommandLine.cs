using System.Text;

namespace Drover.Agent.Internal;

/// <summary>Splits a command line into arguments the way a POSIX shell does for simple quoting, without
/// running a shell: whitespace separates arguments; '...' is literal; "..." is literal except that a
/// backslash escapes " \ $ and `; outside quotes a backslash escapes the next character. No variables,
/// globs, pipes or redirections. (The same rules as the CLI's --status-command.)</summary>
internal static class CommandLine
{
    public static bool TrySplit(string text, out string[] argv, out string error)
    {
        var args = new List<string>();
        var current = new StringBuilder();
        var inArgument = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                if (inArgument)
                {
                    args.Add(current.ToString());
                    current.Clear();
                    inArgument = false;
                }

                i++;
                continue;
            }

            inArgument = true;
            if (c == '\'')
            {
                var close = text.IndexOf('\'', i + 1);
                if (close < 0)
                {
                    return Fail("unclosed single quote", out argv, out error);
                }

                current.Append(text, i + 1, close - i - 1);
                i = close + 1;
            }
            else if (c == '"')
            {
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        return Fail("unclosed double quote", out argv, out error);
                    }

                    var d = text[i];
                    if (d == '"')
                    {
                        i++;
                        break;
                    }

                    if (d == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$' or '`')
                    {
                        current.Append(text[i + 1]);
                        i += 2;
                        continue;
                    }

                    current.Append(d);
                    i++;
                }
            }
            else if (c == '\\')
            {
                if (i + 1 >= text.Length)
                {
                    return Fail("trailing backslash", out argv, out error);
                }

                current.Append(text[i + 1]);
                i += 2;
            }
            else
            {
                current.Append(c);
                i++;
            }
        }

        if (inArgument)
        {
            args.Add(current.ToString());
        }

        if (args.Count == 0)
        {
            return Fail("empty command", out argv, out error);
        }

        argv = args.ToArray();
        error = string.Empty;
        return true;
    }

    /// <summary>Quotes <paramref name="value"/> for a POSIX shell: single quotes, with each ' written as '\''.</summary>
    public static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static bool Fail(string message, out string[] argv, out string error)
    {
        argv = [];
        error = message;
        return false;
    }
}
