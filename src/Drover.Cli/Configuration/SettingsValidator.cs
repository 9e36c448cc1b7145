using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Configuration;

/// <summary>What a catalog loaded: the options, and the values that were given with where (flag, variable or file), so
/// that the line of a rule the options break can name its settings as the user gave them.</summary>
/// <typeparam name="T">The command's options record.</typeparam>
internal sealed class LoadedSettings<T>
    where T : new()
{
    private readonly SettingsCatalog<T> _catalog;
    private readonly IReadOnlyList<GivenValue<T>> _given;

    public LoadedSettings(SettingsCatalog<T> catalog, T options, IReadOnlyList<GivenValue<T>> given)
    {
        _catalog = catalog;
        Options = options;
        _given = given;
    }

    public T Options { get; }

    /// <summary>One line for a broken rule: the settings it concerns as they were given (<c>--stale-after 2h and
    /// DROVER_RETIRE_AFTER=1h</c>; a setting left at its default by its flag, when none was given), the rule's message,
    /// and every form of each of those settings. A rule of no setting (the clock) is its message alone.</summary>
    public string Describe(ValidationResult error)
    {
        var message = error.ErrorMessage ?? "invalid options";
        var settings = error.MemberNames.Select(_catalog.SettingOf).OfType<Setting<T>>().Distinct().ToList();
        if (settings.Count == 0)
        {
            return message;
        }

        var given = settings.Select(setting => _given.FirstOrDefault(value => value.Setting == setting)).OfType<GivenValue<T>>().ToList();
        var subject = given.Count > 0
            ? string.Join(" and ", given.Select(value => value.Where))
            : string.Join(" and ", settings.Select(setting => setting.Flag));
        return $"{subject}: {message} ({string.Join("; ", settings.Select(_catalog.Forms))})";
    }
}

/// <summary>The options rules of a command through the Options pattern: registered as the <see cref="IValidateOptions{TOptions}"/>
/// of <typeparamref name="TOptions"/> (with <c>ValidateOnStart</c>, so they run when the host starts, before any hosted
/// service), it runs the options record's own rules (the one set its library's constructor also checks) and turns each
/// broken one into a line that names its settings (<see cref="LoadedSettings{T}.Describe"/>). The host's start then throws
/// an <see cref="OptionsValidationException"/> whose failures are those lines.</summary>
internal sealed class SettingsValidator<TConfig, TOptions> : IValidateOptions<TOptions>
    where TConfig : new()
    where TOptions : class
{
    private readonly LoadedSettings<TConfig> _settings;
    private readonly Func<TOptions, IReadOnlyList<ValidationResult>> _rules;

    public SettingsValidator(LoadedSettings<TConfig> settings, Func<TOptions, IReadOnlyList<ValidationResult>> rules)
    {
        _settings = settings;
        _rules = rules;
    }

    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var errors = _rules(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors.Select(_settings.Describe));
    }
}
