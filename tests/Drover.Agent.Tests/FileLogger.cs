using Microsoft.Extensions.Logging;

namespace Drover.Agent.Tests;

/// <summary>Debug aid: when DROVER_TEST_LOG names a file, agent logs are appended to it.</summary>
internal sealed class FileLogger : ILogger
{
    private static readonly object Gate = new();
    private readonly string _path;
    private readonly string _test;

    private FileLogger(string path, string test)
    {
        _path = path;
        _test = test;
    }

    public static ILogger? Create(string test) =>
        Environment.GetEnvironmentVariable("DROVER_TEST_LOG") is { Length: > 0 } path ? new FileLogger(path, test) : null;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Gate)
        {
            File.AppendAllText(_path, $"{DateTime.UtcNow:HH:mm:ss.fff} {_test} {logLevel} {formatter(state, exception)}\n");
        }
    }
}
