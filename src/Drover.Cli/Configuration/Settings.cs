using System.Globalization;
using Drover.Api;

namespace Drover.Cli.Configuration;

/// <summary>Builders for the settings of options record <typeparamref name="T"/>: each takes how to read the
/// property (for the default) and how to set it (<c>with { ... }</c>).</summary>
internal static class Settings<T>
{
    /// <summary>A one-value setting.</summary>
    public static Setting<T> Of<TValue>(
        string name, string valueKind, string meaning, ValueParser<TValue> parse, Func<T, TValue> get, Func<T, TValue, T> set, Func<TValue, string> format, string? defaultInWords = null) => new()
    {
        Name = name,
        ValueKind = valueKind,
        Meaning = meaning,
        Default = options => format(get(options)),
        DefaultInWords = defaultInWords,
        Apply = (options, values) => parse(values[0], out var value, out var error) ? (set(options, value), null) : (options, error),
    };

    public static Setting<T> Duration(string name, string meaning, Func<T, TimeSpan> get, Func<T, TimeSpan, T> set) =>
        Of(name, "duration", meaning, ValueParsers.Duration, get, set, DurationText.Format);

    public static Setting<T> Int(string name, string meaning, Func<T, int> get, Func<T, int, T> set) =>
        Of(name, "number", meaning, ValueParsers.Int, get, set, ValueParsers.FormatInt);

    public static Setting<T> IntSize(string name, string meaning, Func<T, int> get, Func<T, int, T> set) =>
        Of(name, "size", meaning, ValueParsers.IntSize, get, set, v => ValueParsers.FormatSize(v));

    public static Setting<T> Size(string name, string meaning, Func<T, long> get, Func<T, long, T> set) =>
        Of(name, "size", meaning, ValueParsers.Size, get, set, ValueParsers.FormatSize);

    public static Setting<T> Text(string name, string valueKind, string meaning, Func<T, string?> get, Func<T, string, T> set, string? defaultInWords = null) =>
        Of<string>(name, valueKind, meaning, ValueParsers.Text, o => get(o) ?? string.Empty, set, v => v.Length == 0 ? "none" : v, defaultInWords);

    public static Setting<T> Switch(string name, string meaning, Func<T, bool> get, Func<T, bool, T> set)
    {
        var setting = Of(name, "true/false", meaning, ValueParsers.Bool, get, set, v => v ? "true" : "false");
        return new Setting<T>
        {
            Name = setting.Name,
            ValueKind = setting.ValueKind,
            Meaning = setting.Meaning,
            Default = setting.Default,
            Apply = setting.Apply,
            Kind = SettingKind.Switch,
        };
    }

    /// <summary>A repeatable setting (the options check each value).</summary>
    public static Setting<T> List(string name, string valueKind, string meaning, Func<T, IReadOnlyList<string>> get, Func<T, IReadOnlyList<string>, T> set) => new()
    {
        Name = name,
        ValueKind = valueKind,
        Meaning = meaning,
        Kind = SettingKind.List,
        Default = options => get(options) is { Count: > 0 } list ? string.Join(",", list) : "none",
        Apply = (options, values) => (set(options, values.ToArray()), null),
    };

    /// <summary>An int within [min, max], with a message naming the range.</summary>
    public static ValueParser<int> IntRange(int min, int max) => (string text, out int value, out string error) =>
    {
        if (!ValueParsers.Int(text, out value, out error))
        {
            return false;
        }

        error = string.Create(CultureInfo.InvariantCulture, $"must be {min} to {max}, got {value}");
        return value >= min && value <= max;
    };
}
