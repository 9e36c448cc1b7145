using System.Collections.Concurrent;
using System.Text;

namespace Drover.Hub.Fleet;

/// <summary>One copy of the strings and label sets that many agents share (versions, label sets such
/// as zone=eu): a fleet of 10,000 agents usually has a handful of each, so interning saves a
/// dictionary and its strings per agent. Bounded: past <see cref="MaxEntries"/> distinct values it
/// stops interning and returns its input, so unique values cannot grow it without limit.</summary>
internal sealed class SharedStrings
{
    public const int MaxEntries = 10_000;

    private readonly ConcurrentDictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> _labelSets = new(StringComparer.Ordinal);

    public string Intern(string value)
    {
        if (_strings.TryGetValue(value, out var shared))
        {
            return shared;
        }

        return _strings.Count < MaxEntries ? _strings.GetOrAdd(value, value) : value;
    }

    /// <summary>The shared instance of an equal label set (same keys and values).</summary>
    public IReadOnlyDictionary<string, string> Labels(IReadOnlyDictionary<string, string> labels)
    {
        if (labels.Count == 0)
        {
            return AgentEntry.EmptyLabels;
        }

        var key = new StringBuilder();
        foreach (var (name, value) in labels.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            key.Append(name).Append('\0').Append(value).Append('\0');
        }

        var text = key.ToString();
        if (_labelSets.TryGetValue(text, out var shared))
        {
            return shared;
        }

        return _labelSets.Count < MaxEntries ? _labelSets.GetOrAdd(text, labels) : labels;
    }
}
