using System.CommandLine;
using System.ComponentModel.DataAnnotations;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace Drover.Cli.Configuration;

/// <summary>Every setting of one command (<c>serve</c> or <c>agent</c>): the flags are generated from it, the values are read
/// from flags, DROVER_* environment variables and the config file through <see cref="IConfiguration"/>, and the
/// table in docs/configuration.md is rendered from it.</summary>
/// <typeparam name="T">The command's options record; a default-constructed one holds every default.</typeparam>
internal sealed class SettingsCatalog<T>
    where T : new()
{
    private readonly Func<T, (T Options, string? Error)> _complete;
    private readonly IReadOnlyDictionary<string, string> _memberSettings;

    /// <param name="command">The command, e.g. "serve".</param>
    /// <param name="section">The JSON section holding the command's settings, e.g. "hub".</param>
    /// <param name="settings">The settings, in the order of help and docs.</param>
    /// <param name="complete">Checks the CLI's own rules across settings once every value is applied (the options record's
    /// rules run later, at the host's start) and finishes the options; returns an error instead when they are invalid.</param>
    /// <param name="memberSettings">The options properties whose setting is not named after them (the property in kebab case:
    /// <c>StaleAfter</c> is <c>stale-after</c>), e.g. <c>ReportInterval</c> → <c>interval</c>: to name the settings of a broken rule.</param>
    public SettingsCatalog(string command, string section, IReadOnlyList<Setting<T>> settings, Func<T, (T Options, string? Error)> complete, IReadOnlyDictionary<string, string> memberSettings)
    {
        Command = command;
        Section = section;
        Settings = settings;
        _complete = complete;
        _memberSettings = memberSettings;
    }

    public string Command { get; }

    public string Section { get; }

    public IReadOnlyList<Setting<T>> Settings { get; }

    /// <summary>The JSON key of a setting, as written in errors and docs: <c>hub.http</c>.</summary>
    public string JsonKey(Setting<T> setting) => $"{Section}.{setting.Name}";

    /// <summary>The help text of a setting's flag: meaning, default and environment variable.</summary>
    public string Description(Setting<T> setting) =>
        $"{setting.Meaning} (default: {setting.DefaultText(new T())}; env: {setting.EnvironmentVariable}; json: {JsonKey(setting)})";

    /// <summary>The setting of an options property (<see cref="ValidationResult.MemberNames"/>), or null when none sets it.</summary>
    public Setting<T>? SettingOf(string member)
    {
        var name = _memberSettings.TryGetValue(member, out var alias) ? alias : KebabCase(member);
        return Settings.FirstOrDefault(setting => setting.Name == name);
    }

    /// <summary>How a setting can be given, for the end of an error line.</summary>
    public string Forms(Setting<T> setting) => $"setting {setting.Name}: {setting.Flag}, {setting.EnvironmentVariable} or {JsonKey(setting)} in drover.json";

    /// <summary>Adds one generated option per setting, and <c>--config</c>, to <paramref name="command"/>.</summary>
    public CatalogOptions<T> AddOptions(System.CommandLine.Command command)
    {
        var options = new Dictionary<Setting<T>, Option>();
        foreach (var setting in Settings)
        {
            Option option = setting.Kind switch
            {
                SettingKind.List => new Option<string[]>(setting.Flag) { Description = Description(setting), AllowMultipleArgumentsPerToken = false },
                SettingKind.Switch => new Option<bool>(setting.Flag) { Description = Description(setting) },
                _ => new Option<string>(setting.Flag) { Description = Description(setting) },
            };
            options.Add(setting, option);
            command.Options.Add(option);
        }

        var config = new Option<string>("--config")
        {
            Description = $"A JSON config file with a \"{Section}\" section (default: ./drover.json when it exists; env: DROVER_CONFIG). Flags beat DROVER_* variables, which beat the file",
        };
        command.Options.Add(config);
        return new CatalogOptions<T>(this, options, config);
    }

    /// <summary>Reads every setting from the merged configuration (<see cref="ConfigurationSources"/>), applies it, and checks the
    /// CLI's rules. On a bad value the error is one line naming the setting as the user gave it, and its other two forms.</summary>
    public bool TryLoad(ConfigurationSources sources, out LoadedSettings<T> loaded, out string error)
    {
        loaded = new LoadedSettings<T>(this, new T(), []);
        error = string.Empty;
        var fileProvider = sources.FileProvider;
        if (fileProvider is not null)
        {
            var known = Settings.Select(s => s.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var unknown = fileProvider.GetChildKeys([], Section).Distinct(StringComparer.OrdinalIgnoreCase).FirstOrDefault(key => !known.Contains(key));
            if (unknown is not null)
            {
                error = $"{Section}.{unknown} in {sources.FilePath} is not a setting of drover {Command} (docs/configuration.md lists them)";
                return false;
            }
        }

        var given = new List<GivenValue<T>>();
        foreach (var setting in Settings)
        {
            if (Find(sources, setting) is { } value)
            {
                given.Add(value);
            }
        }

        var (resolved, failed, message) = Resolve(given, skip: -1);
        if (message is null)
        {
            loaded = new LoadedSettings<T>(this, resolved, given);
            return true;
        }

        if (failed is null)
        {
            // The options as a whole are invalid: find the given value without which this error goes away.
            // First one whose absence makes the options valid, else one whose absence changes the error.
            var without = Enumerable.Range(0, given.Count).Select(i => Resolve(given, skip: i).Error).ToList();
            var index = without.FindIndex(e => e is null);
            index = index >= 0 ? index : without.FindIndex(e => e != message);
            failed = index >= 0 ? given[index] : null;
        }

        error = failed is null ? message : $"{failed.Where}: {message} ({Forms(failed.Setting)})";
        return false;
    }

    private static string KebabCase(string member)
    {
        var name = new StringBuilder(member.Length + 4);
        foreach (var c in member)
        {
            if (char.IsUpper(c) && name.Length > 0)
            {
                name.Append('-');
            }

            name.Append(char.ToLowerInvariant(c));
        }

        return name.ToString();
    }

    private (T Options, GivenValue<T>? Failed, string? Error) Resolve(List<GivenValue<T>> given, int skip)
    {
        var options = new T();
        for (var i = 0; i < given.Count; i++)
        {
            if (i == skip)
            {
                continue;
            }

            var (applied, error) = given[i].Setting.Apply(options, given[i].Values);
            if (error is not null)
            {
                return (options, given[i], error);
            }

            options = applied;
        }

        var (completed, completeError) = _complete(options);
        return (completed, null, completeError);
    }

    /// <summary>The value of <paramref name="setting"/> from the strongest source that has it: flags, then environment, then the file.
    /// (A list is taken whole from one source, never merged element by element.)</summary>
    private GivenValue<T>? Find(ConfigurationSources sources, Setting<T> setting)
    {
        var key = $"{Section}:{setting.Name}";
        foreach (var (provider, label) in sources.Strongest())
        {
            if (provider.TryGet(key, out var text) && text is not null)
            {
                IReadOnlyList<string> values = setting.Kind == SettingKind.List
                    ? text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                    : [text];
                return new GivenValue<T>(setting, values, Where(label, sources.FilePath, setting, text));
            }

            var children = provider.GetChildKeys([], key).Distinct(StringComparer.Ordinal).ToList();
            if (children.Count > 0)
            {
                var values = children
                    .OrderBy(child => int.TryParse(child, out var index) ? index : int.MaxValue)
                    .Select(child => provider.TryGet($"{key}:{child}", out var item) ? item ?? string.Empty : string.Empty)
                    .ToArray();
                if (setting.Kind != SettingKind.List)
                {
                    return new GivenValue<T>(setting, values.Take(1).ToArray(), Where(label, sources.FilePath, setting, string.Join(",", values)));
                }

                return new GivenValue<T>(setting, values, Where(label, sources.FilePath, setting, string.Join(",", values)));
            }
        }

        return null;
    }

    private string Where(SourceKind source, string? filePath, Setting<T> setting, string text) => source switch
    {
        SourceKind.Flag => $"{setting.Flag} {text}",
        SourceKind.Environment => $"{setting.EnvironmentVariable}={text}",
        _ => $"{JsonKey(setting)}={text} in {filePath}",
    };

}

/// <summary>A value given for a setting: its values, and where it was given as the user wrote it (<c>--interval 5s</c>,
/// <c>DROVER_INTERVAL=5s</c>, <c>hub.interval=5s in /etc/drover.json</c>).</summary>
internal sealed record GivenValue<T>(Setting<T> Setting, IReadOnlyList<string> Values, string Where);

/// <summary>Where a value came from.</summary>
internal enum SourceKind
{
    File,
    Environment,
    Flag,
}

/// <summary>The three sources of one command's settings, merged into one <see cref="IConfigurationRoot"/>: the config
/// file (weakest), the DROVER_* variables the catalog names, and the flags that were given explicitly (strongest).</summary>
internal sealed class ConfigurationSources
{
    private readonly List<SourceKind> _kinds;

    private ConfigurationSources(IConfigurationRoot root, List<SourceKind> kinds, string? filePath)
    {
        Root = root;
        _kinds = kinds;
        FilePath = filePath;
    }

    public IConfigurationRoot Root { get; }

    public string? FilePath { get; }

    public IConfigurationProvider? FileProvider => _kinds.Count > 0 && _kinds[0] == SourceKind.File ? Root.Providers.First() : null;

    /// <summary>Builds the configuration; false with a one-line error when the config file is missing or not JSON.</summary>
    public static bool TryBuild(string? filePath, IReadOnlyDictionary<string, string?> environment, IReadOnlyDictionary<string, string?> flags, out ConfigurationSources sources, out string error)
    {
        sources = null!;
        error = string.Empty;
        var builder = new ConfigurationBuilder();
        var kinds = new List<SourceKind>();
        string? fullPath = null;
        if (filePath is not null)
        {
            fullPath = Path.GetFullPath(filePath);
            if (!File.Exists(fullPath))
            {
                error = $"config file {fullPath} does not exist";
                return false;
            }

            builder.AddJsonFile(fullPath, optional: false, reloadOnChange: false);
            kinds.Add(SourceKind.File);
        }

        builder.AddInMemoryCollection(environment);
        kinds.Add(SourceKind.Environment);
        builder.AddInMemoryCollection(flags);
        kinds.Add(SourceKind.Flag);
        try
        {
            sources = new ConfigurationSources(builder.Build(), kinds, fullPath);
            return true;
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            var reason = ex.InnerException is { } inner ? $"{ex.Message} {inner.Message}" : ex.Message;
            error = $"config file {fullPath}: {reason.ReplaceLineEndings(" ")}";
            return false;
        }
    }

    /// <summary>The providers with their kind, strongest first.</summary>
    public IEnumerable<(IConfigurationProvider Provider, SourceKind Kind)> Strongest()
    {
        var providers = Root.Providers.ToList();
        for (var i = providers.Count - 1; i >= 0; i--)
        {
            yield return (providers[i], _kinds[i]);
        }
    }
}

/// <summary>The generated options of one command, to read the explicitly given flags from a parse result.</summary>
internal sealed class CatalogOptions<T>
    where T : new()
{
    private readonly SettingsCatalog<T> _catalog;
    private readonly Dictionary<Setting<T>, Option> _options;
    private readonly Option<string> _config;

    public CatalogOptions(SettingsCatalog<T> catalog, Dictionary<Setting<T>, Option> options, Option<string> config)
    {
        _catalog = catalog;
        _options = options;
        _config = config;
    }

    /// <summary>Merges the flags given in <paramref name="parse"/>, the environment and the config file, and loads the options.</summary>
    public bool TryLoad(ParseResult parse, out LoadedSettings<T> loaded, out string error)
    {
        loaded = new LoadedSettings<T>(_catalog, new T(), []);
        var section = _catalog.Section;
        var flags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var environment = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var setting in _catalog.Settings)
        {
            var key = $"{section}:{setting.Name}";
            if (Environment.GetEnvironmentVariable(setting.EnvironmentVariable) is { Length: > 0 } value)
            {
                environment[key] = value;
            }

            var option = _options[setting];
            if (parse.GetResult(option) is not { Implicit: false })
            {
                continue;
            }

            switch (option)
            {
                case Option<string[]> list:
                    var values = parse.GetValue(list) ?? [];
                    for (var i = 0; i < values.Length; i++)
                    {
                        flags[$"{key}:{i}"] = values[i];
                    }

                    break;
                case Option<bool> flag:
                    flags[key] = parse.GetValue(flag) ? "true" : "false";
                    break;
                case Option<string> text:
                    flags[key] = parse.GetValue(text);
                    break;
            }
        }

        var file = parse.GetValue(_config)
            ?? (Environment.GetEnvironmentVariable("DROVER_CONFIG") is { Length: > 0 } fromEnvironment ? fromEnvironment : null)
            ?? (File.Exists("drover.json") ? "drover.json" : null);
        if (!ConfigurationSources.TryBuild(file, environment, flags, out var sources, out error))
        {
            return false;
        }

        return _catalog.TryLoad(sources, out loaded, out error);
    }
}
