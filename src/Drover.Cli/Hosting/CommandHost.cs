using Drover.Cli.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Hosting;

/// <summary>What the hosts under <c>drover serve</c> (a WebApplication, <see cref="ServeHost"/>) and <c>drover agent</c> (a
/// Generic Host, <see cref="Build{TConfig, TService, TOptions}"/>) share: our own configuration only (merged by the settings
/// catalog), so none of the host's default sources (appsettings.json, DOTNET_ variables); console logging as chosen; systemd
/// integration (Type=notify, journal format) when run as a systemd service; a 60 s shutdown timeout; SIGTERM and SIGINT
/// stop it through the host's lifetime; and the options record validated through the Options pattern at start.</summary>
internal static class CommandHost
{
    /// <summary>A Generic Host that runs <typeparamref name="TService"/> (one instance, also resolvable by its own type) with
    /// <paramref name="config"/> as a singleton and <paramref name="options"/> as <see cref="IOptions{TOptions}"/>, checked
    /// by <paramref name="validator"/> when the host starts.</summary>
    public static IHost Build<TConfig, TService, TOptions>(TConfig config, LoggingConfig logging, TOptions options, IValidateOptions<TOptions> validator)
        where TConfig : class
        where TService : class, IHostedService
        where TOptions : class
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = Directory.GetCurrentDirectory(),
        });
        Configure(builder, logging, holdLogsUntilStarted: false);
        AddValidatedOptions(builder.Services, options, validator);
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton<TService>();
        builder.Services.AddHostedService(services => services.GetRequiredService<TService>());
        return builder.Build();
    }

    /// <summary>Systemd, console logging and the shutdown timeout, on either kind of host. With
    /// <paramref name="holdLogsUntilStarted"/> the console's entries wait behind a <see cref="StartupLogGate"/> that the caller
    /// opens or fails once the start is known.</summary>
    public static void Configure(IHostApplicationBuilder builder, LoggingConfig logging, bool holdLogsUntilStarted)
    {
        builder.Services.AddSystemd();
        ConsoleLogging.Configure(builder.Logging, logging.Level, logging.Format, holdLogsUntilStarted);
        // The hub's stop says bye to every agent and flushes the store: give it time.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(60));
    }

    /// <summary>Registers <paramref name="value"/>, the options record the settings catalog built, as the options of
    /// <typeparamref name="TOptions"/> (<see cref="RecordOptionsFactory{TOptions}"/>), with <paramref name="validator"/> and
    /// <c>ValidateOnStart</c>: the host's start validates them before any hosted service starts, and throws an
    /// <see cref="OptionsValidationException"/> (see <see cref="ValidationFailed"/>) when they break a rule.</summary>
    public static void AddValidatedOptions<TOptions>(IServiceCollection services, TOptions value, IValidateOptions<TOptions> validator)
        where TOptions : class
    {
        services.AddSingleton(validator);
        services.AddSingleton<IOptionsFactory<TOptions>>(provider => new RecordOptionsFactory<TOptions>(
            value,
            provider.GetServices<IConfigureOptions<TOptions>>(),
            provider.GetServices<IPostConfigureOptions<TOptions>>(),
            provider.GetServices<IValidateOptions<TOptions>>()));
        services.AddOptions<TOptions>().ValidateOnStart();
    }

    /// <summary>The one line on stderr of a start refused by the options' validator: each failure names its settings
    /// (<see cref="SettingsValidator{TConfig, TOptions}"/>); the command then exits with <see cref="ExitCodes.Usage"/>.</summary>
    public static Task ValidationFailed(string command, OptionsValidationException exception) =>
        Console.Error.WriteLineAsync($"drover {command}: {string.Join("; ", exception.Failures)}");
}

/// <summary>The options factory of an options record with init-only properties, which <c>IConfigureOptions</c> cannot set:
/// it starts from the record the settings catalog built instead of a new one, and otherwise does what
/// <see cref="OptionsFactory{TOptions}"/> does (configure, post-configure, run every <see cref="IValidateOptions{TOptions}"/>).</summary>
internal sealed class RecordOptionsFactory<TOptions> : OptionsFactory<TOptions>
    where TOptions : class
{
    private readonly TOptions _value;

    public RecordOptionsFactory(
        TOptions value,
        IEnumerable<IConfigureOptions<TOptions>> setups,
        IEnumerable<IPostConfigureOptions<TOptions>> postConfigures,
        IEnumerable<IValidateOptions<TOptions>> validations)
        : base(setups, postConfigures, validations)
    {
        _value = value;
    }

    protected override TOptions CreateInstance(string name) => _value;
}
