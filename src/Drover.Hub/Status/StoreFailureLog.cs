using Drover.Storage;

namespace Drover.Hub.Status;

/// <summary>Decides which store failures of one writer are logged, so that a store that keeps failing (a full disk)
/// says what is wrong without a line per write, and a disk that is nearly full (large writes fail, small ones
/// succeed) does not log a failure and a recovery for every refused request. Not thread-safe: one writer loop
/// uses it.</summary>
/// <remarks>
/// <para>A run of failures with no success between them is a streak. The first failure of a streak is logged, unless
/// the same error was logged less than <see cref="Window"/> ago; such a streak is logged once it has lasted
/// <see cref="LogAfter"/> (a real outage) or when <see cref="Window"/> has passed. Within a logged streak, a new line
/// comes when the error changes or once per <see cref="Window"/>. Every failure line says how many failures
/// there were since the previous line.</para>
/// <para>The first success after a logged streak is logged as a recovery, with the streak's failures and length. A
/// streak that was never logged ends silently (its failures are counted in the next failure line).</para>
/// <para>Errors are told apart by the driver's message (<see cref="Exception.InnerException"/>), which stays the
/// same from one write to the next, unlike the store's own message that names the batch.</para>
/// </remarks>
internal sealed class StoreFailureLog(TimeProvider time)
{
    /// <summary>At most one line per error per window, except when a streak is logged after <see cref="LogAfter"/>.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>The longest wait between two tries of a failing store write.</summary>
    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    /// <summary>How long a writer waits before trying a failing store write again after <paramref name="failures"/>
    /// failures in a row (at least 1): 1, 2, 4, then every 5 s (<see cref="MaxRetryDelay"/>). One schedule for every
    /// writer (status flushes, job results), so that all of them write again within 5 s of the store recovering.</summary>
    public static TimeSpan RetryDelay(int failures) =>
        TimeSpan.FromSeconds(Math.Min(MaxRetryDelay.TotalSeconds, 1 << Math.Clamp(failures - 1, 0, 3)));

    /// <summary>A streak that was not logged at its start (the same error was logged shortly before) is logged once it lasts this long.</summary>
    public static readonly TimeSpan LogAfter = TimeSpan.FromSeconds(5);

    private string? _lastKey;
    private long _lastLineTicks;
    private long _streakStartTicks;
    private int _streakFailures;
    private bool _streakLogged;
    private int _unlogged;

    /// <summary>Failures in the current streak (0 after a success).</summary>
    public int StreakFailures => _streakFailures;

    /// <summary>Counts a failure. Returns true when it should be logged, with how many failures
    /// <paramref name="sinceLastLine"/> that line stands for (this one included).</summary>
    public bool Failure(Exception error, out int sinceLastLine)
    {
        var now = time.GetUtcNow().UtcTicks;
        var key = Key(error);
        _unlogged++;
        if (_streakFailures++ == 0)
        {
            _streakStartTicks = now;
            _streakLogged = false;
        }

        var sameError = string.Equals(key, _lastKey, StringComparison.Ordinal);
        var windowPassed = now - _lastLineTicks >= Window.Ticks;
        var log = !sameError
            || windowPassed
            || (!_streakLogged && now - _streakStartTicks >= LogAfter.Ticks);
        sinceLastLine = _unlogged;
        if (!log)
        {
            return false;
        }

        _lastKey = key;
        _lastLineTicks = now;
        _streakLogged = true;
        _unlogged = 0;
        return true;
    }

    /// <summary>Counts a success. Returns true when it ends a logged streak, with that streak's
    /// <paramref name="failures"/> and <paramref name="duration"/> (first failure to now).</summary>
    public bool Success(out int failures, out TimeSpan duration)
    {
        failures = _streakFailures;
        duration = failures == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(time.GetUtcNow().UtcTicks - _streakStartTicks);
        var log = _streakFailures > 0 && _streakLogged;
        _streakFailures = 0;
        _streakLogged = false;
        return log;
    }

    /// <summary>What tells errors apart: the driver's message when there is one (for SQLite, "SQLite Error 13:
    /// 'database or disk is full'."), else the exception's own.</summary>
    private static string Key(Exception error) =>
        error.GetType().Name + ": " + (error is StoreException { InnerException: { } inner } ? inner.Message : error.Message);
}
