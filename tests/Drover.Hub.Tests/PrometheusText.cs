using System.Globalization;
using System.Text.RegularExpressions;

namespace Drover.Hub.Tests;

/// <summary>A strict reader of the Prometheus text exposition format (version 0.0.4), for the /metrics tests: every line
/// is a <c># HELP</c>, a <c># TYPE</c>, another comment, blank, or a sample <c>name{label="value",…} value [timestamp]</c>;
/// a family's HELP and TYPE come at most once and before its samples, its samples are contiguous, and a histogram's
/// series each have ascending <c>le</c> buckets with non-decreasing counts ending in <c>+Inf</c>, equal to its
/// <c>_count</c>, and a <c>_sum</c>. Anything else throws <see cref="FormatException"/> naming the line.</summary>
internal sealed partial class PrometheusText
{
    private PrometheusText(Dictionary<string, Family> families, List<Sample> samples)
    {
        Families = families;
        Samples = samples;
    }

    public IReadOnlyDictionary<string, Family> Families { get; }

    public IReadOnlyList<Sample> Samples { get; }

    /// <summary>Every sample name (with a histogram's <c>_bucket</c>, <c>_sum</c> and <c>_count</c>).</summary>
    public IReadOnlySet<string> SampleNames => Samples.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);

    /// <summary>The value of the one sample <paramref name="name"/> whose labels include <paramref name="labels"/>; null
    /// when there is none.</summary>
    public double? Value(string name, params (string Name, string Value)[] labels)
    {
        var matching = Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).ToList();
        return matching.Count switch
        {
            0 => null,
            1 => matching[0].Value,
            _ => throw new InvalidOperationException($"{matching.Count} samples of {name} match"),
        };
    }

    public sealed record Family(string Name, string Type, string? Help);

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value, string Family);

    public static PrometheusText Parse(string text)
    {
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var help = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<Sample>();
        var finished = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        var lines = text.Split('\n');
        if (lines[^1].Length != 0)
        {
            throw new FormatException("the exposition does not end with a line feed");
        }

        for (var i = 0; i < lines.Length - 1; i++)
        {
            var line = lines[i];
            void Fail(string why) => throw new FormatException($"line {i + 1}: {why}: {line}");
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var meta = MetaLine().Match(line);
                if (!meta.Success)
                {
                    if (line.StartsWith("# HELP", StringComparison.Ordinal) || line.StartsWith("# TYPE", StringComparison.Ordinal))
                    {
                        Fail("malformed HELP or TYPE");
                    }

                    continue; // another comment
                }

                var name = meta.Groups["name"].Value;
                if (finished.Contains(name) || (current != name && samples.Any(s => s.Family == name)))
                {
                    Fail("metadata after the family's samples");
                }

                if (meta.Groups["kind"].Value == "HELP")
                {
                    if (!help.TryAdd(name, meta.Groups["rest"].Value))
                    {
                        Fail("a second HELP");
                    }
                }
                else
                {
                    var type = meta.Groups["rest"].Value;
                    if (type is not ("counter" or "gauge" or "histogram" or "summary" or "untyped"))
                    {
                        Fail("unknown type");
                    }

                    if (!families.TryAdd(name, new Family(name, type, null)))
                    {
                        Fail("a second TYPE");
                    }
                }

                if (current is not null && current != name)
                {
                    finished.Add(current);
                }

                current = name;
                continue;
            }

            var sample = ParseSample(line, i + 1);
            var family = FamilyOf(sample.Name, families);
            if (family is null)
            {
                Fail("a sample without a TYPE");
            }

            if (finished.Contains(family!.Name))
            {
                Fail("the family's samples are not contiguous");
            }

            if (current != family.Name)
            {
                if (current is not null)
                {
                    finished.Add(current);
                }

                current = family.Name;
            }

            samples.Add(sample with { Family = family.Name });
        }

        foreach (var (name, h) in help)
        {
            if (families.TryGetValue(name, out var family))
            {
                families[name] = family with { Help = h };
            }
        }

        foreach (var family in families.Values.Where(f => f.Type == "histogram"))
        {
            CheckHistogram(family.Name, samples.Where(s => s.Family == family.Name).ToList());
        }

        return new PrometheusText(families, samples);
    }

    /// <summary>The family a sample belongs to: its own name, or for a histogram or summary its name less the suffix.</summary>
    private static Family? FamilyOf(string name, Dictionary<string, Family> families)
    {
        if (families.TryGetValue(name, out var own) && own.Type is not ("histogram" or "summary"))
        {
            return own;
        }

        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal)
                && families.TryGetValue(name[..^suffix.Length], out var family)
                && (family.Type == "histogram" || (family.Type == "summary" && suffix != "_bucket")))
            {
                return family;
            }
        }

        return null;
    }

    private static void CheckHistogram(string name, List<Sample> samples)
    {
        static string Key(Sample s) => string.Join(',', s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));
        foreach (var series in samples.GroupBy(Key))
        {
            var buckets = series.Where(s => s.Name == name + "_bucket").ToList();
            var count = series.SingleOrDefault(s => s.Name == name + "_count") ?? throw new FormatException($"{name}{{{series.Key}}}: no _count");
            _ = series.SingleOrDefault(s => s.Name == name + "_sum") ?? throw new FormatException($"{name}{{{series.Key}}}: no _sum");
            if (buckets.Count == 0 || buckets[^1].Labels.GetValueOrDefault("le") != "+Inf")
            {
                throw new FormatException($"{name}{{{series.Key}}}: the last bucket is not le=\"+Inf\"");
            }

            var previousBound = double.NegativeInfinity;
            var previousCount = 0.0;
            foreach (var bucket in buckets)
            {
                var bound = ParseValue(bucket.Labels.GetValueOrDefault("le") ?? throw new FormatException($"{name}: a bucket without le"));
                if (bound <= previousBound || bucket.Value < previousCount)
                {
                    throw new FormatException($"{name}{{{series.Key}}}: buckets not ascending (le {bound}, count {bucket.Value})");
                }

                previousBound = bound;
                previousCount = bucket.Value;
            }

            if (previousCount != count.Value)
            {
                throw new FormatException($"{name}{{{series.Key}}}: the +Inf bucket ({previousCount}) is not the _count ({count.Value})");
            }
        }
    }

    private static Sample ParseSample(string line, int number)
    {
        var match = SampleLine().Match(line);
        if (!match.Success)
        {
            throw new FormatException($"line {number}: not a sample: {line}");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var text = match.Groups["labels"].Value;
        var position = 0;
        while (position < text.Length)
        {
            var label = LabelPair().Match(text, position);
            if (!label.Success || label.Index != position)
            {
                throw new FormatException($"line {number}: malformed labels: {line}");
            }

            if (!labels.TryAdd(label.Groups["name"].Value, Unescape(label.Groups["value"].Value)))
            {
                throw new FormatException($"line {number}: a label twice: {line}");
            }

            position += label.Length;
        }

        return new Sample(match.Groups["name"].Value, labels, ParseValue(match.Groups["value"].Value), string.Empty);
    }

    private static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) => value,
        _ => throw new FormatException($"not a sample value: {text}"),
    };

    private static string Unescape(string value) => value.Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);

    [GeneratedRegex(@"^# (?<kind>HELP|TYPE) (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<rest>.*)$")]
    private static partial Regex MetaLine();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^{}]*)\})? (?<value>\S+)( -?[0-9]+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<name>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(\\[\\""n]|[^\\""])*)"",?")]
    private static partial Regex LabelPair();
}
