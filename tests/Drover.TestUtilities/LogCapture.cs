using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Drover.TestUtilities;

/// <summary>A logger provider that keeps every line written through it (all levels), for tests that check what a hub or
/// an agent logs. Pass <see cref="Factory"/> where an <see cref="ILoggerFactory"/> is taken.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<LogLine> _lines = new();

    public LogCapture() => Factory = LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(this));

    /// <summary>A factory whose loggers write here (and nowhere else).</summary>
    public ILoggerFactory Factory { get; }

    /// <summary>Every line so far, in order.</summary>
    public IReadOnlyList<LogLine> Lines => [.. _lines];

    /// <summary>The lines with event id <paramref name="eventId"/>.</summary>
    public IReadOnlyList<LogLine> WithEvent(int eventId) => [.. _lines.Where(l => l.EventId == eventId)];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    /// <summary>One line: its category, level, event id and formatted message.</summary>
    public sealed record LogLine(string Category, LogLevel Level, int EventId, string Message);

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue(new LogLine(category, logLevel, eventId.Id, formatter(state, exception)));
    }
}
