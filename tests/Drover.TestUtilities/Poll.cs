namespace Drover.TestUtilities;

/// <summary>Polling with a real deadline, for state reached through real processes and sockets: no fixed sleeps.</summary>
public static class Poll
{
    /// <summary>Calls <paramref name="probe"/> every <paramref name="interval"/> (default 100 ms) until
    /// <paramref name="done"/> holds for its answer, and returns that answer. Throws <see cref="TimeoutException"/>
    /// naming <paramref name="what"/> and the last answer when <paramref name="timeout"/> passes first.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what}: not reached within {timeout}; last seen: {value}");
            }

            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(100));
        }
    }
}
