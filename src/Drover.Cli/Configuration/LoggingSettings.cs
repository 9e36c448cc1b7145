using Microsoft.Extensions.Logging;

namespace Drover.Cli.Configuration;

/// <summary>How a command logs: the level and the console format. <c>serve</c> and <c>agent</c> both hold one.</summary>
internal sealed record LoggingConfig
{
    public LogLevel Level { get; init; } = LogLevel.Information;

    public LogFormat Format { get; init; } = LogFormat.Simple;
}

/// <summary>The <c>log-level</c> and <c>log-format</c> settings, defined once for every catalog that has a <see cref="LoggingConfig"/>.</summary>
internal static class LoggingSettings
{
    public static Setting<T>[] For<T>(Func<T, LoggingConfig> get, Func<T, LoggingConfig, T> set) =>
    [
        Settings<T>.Of("log-level", "level", "trace, debug, info, warn, error or none", ValueParsers.LogLevel,
            o => get(o).Level, (o, v) => set(o, get(o) with { Level = v }), ValueParsers.FormatLogLevel),
        Settings<T>.Of("log-format", "simple or json", "simple: one line of text per entry; json: one JSON object per line, for log shippers", ValueParsers.LogFormat,
            o => get(o).Format, (o, v) => set(o, get(o) with { Format = v }), v => v.ToString().ToLowerInvariant()),
    ];
}
