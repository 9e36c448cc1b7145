using Microsoft.Extensions.Logging;

namespace Drover.Cli.Hosting;

/// <summary>Holds the console's log entries while <c>drover serve</c> starts, so that a failed start (busy port, locked
/// data directory) shows its one-line reason and not the info lines of a start that did not happen. After a good start
/// <see cref="Open"/> writes what it held, in order, and lets everything through; after a failed one <see cref="Fail"/>
/// keeps only warnings and worse. Entries are written when released, so their timestamps are the release time (at most
/// the length of the start-up later).</summary>
internal sealed class StartupLogGate : ILoggerProvider, ISupportExternalScope
{
    private readonly ILoggerProvider _inner;
    private readonly Lock _lock = new();
    private List<(LogLevel Level, Action Write)>? _held = []; // null once released

    public StartupLogGate(ILoggerProvider inner) => _inner = inner;

    public ILogger CreateLogger(string categoryName) => new GatedLogger(this, _inner.CreateLogger(categoryName));

    /// <summary>The start worked: writes every held entry and stops holding.</summary>
    public void Open() => Release(LogLevel.Trace);

    /// <summary>The start failed: writes the held warnings and worse, drops the rest, and stops holding.</summary>
    public void Fail() => Release(LogLevel.Warning);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => (_inner as ISupportExternalScope)?.SetScopeProvider(scopeProvider);

    public void Dispose()
    {
        Open(); // nothing is lost if neither was called
        _inner.Dispose();
    }

    private void Release(LogLevel keepFrom)
    {
        lock (_lock)
        {
            if (_held is not { } held)
            {
                return;
            }

            foreach (var (level, write) in held)
            {
                if (level >= keepFrom)
                {
                    write();
                }
            }

            Volatile.Write(ref _held, null);
        }
    }

    /// <summary>False once released: the caller writes the entry itself.</summary>
    private bool TryHold(LogLevel level, Action write)
    {
        lock (_lock)
        {
            if (_held is null)
            {
                return false;
            }

            _held.Add((level, write));
            return true;
        }
    }

    private sealed class GatedLogger(StartupLogGate gate, ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (Volatile.Read(ref gate._held) is null || !inner.IsEnabled(logLevel) || !gate.TryHold(logLevel, () => inner.Log(logLevel, eventId, state, exception, formatter)))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
