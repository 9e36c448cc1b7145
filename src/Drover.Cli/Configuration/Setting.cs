namespace Drover.Cli.Configuration;

/// <summary>How a setting is given on the command line.</summary>
internal enum SettingKind
{
    /// <summary>One value: <c>--name VALUE</c>.</summary>
    Value,

    /// <summary>Repeatable: <c>--name A --name B</c>; in the environment comma-separated; in JSON an array (or one string).</summary>
    List,

    /// <summary>A switch: <c>--name</c> alone means true; in the environment and JSON true/false.</summary>
    Switch,
}

/// <summary>One setting of a command: its name and the three ways to give it, what it means, its default (read from a
/// default-constructed options record), and how a value sets the options record.</summary>
/// <typeparam name="T">The command's options record.</typeparam>
internal sealed class Setting<T>
{
    /// <summary>The kebab-case name, e.g. <c>max-reports-per-second</c>: the flag without its dashes and the JSON key.</summary>
    public required string Name { get; init; }

    /// <summary>What the setting does, one sentence without a final full stop.</summary>
    public required string Meaning { get; init; }

    /// <summary>What the value looks like, for the docs (e.g. "duration", "HOST:PORT").</summary>
    public required string ValueKind { get; init; }

    public SettingKind Kind { get; init; } = SettingKind.Value;

    /// <summary>The default as text, read from a default-constructed options record.</summary>
    public required Func<T, string> Default { get; init; }

    /// <summary>Set when the default is computed at run time (the machine name, the number of cores): said in words instead.</summary>
    public string? DefaultInWords { get; init; }

    /// <summary>Applies the given values (one, or several for a list) to the options; returns the error text instead when a value does not parse.</summary>
    public required Func<T, IReadOnlyList<string>, (T Options, string? Error)> Apply { get; init; }

    public string Flag => "--" + Name;

    /// <summary>DROVER_ + the name upper-cased, '-' to '_'.</summary>
    public string EnvironmentVariable => "DROVER_" + Name.ToUpperInvariant().Replace('-', '_');

    public string DefaultText(T defaults) => DefaultInWords ?? Default(defaults);
}
