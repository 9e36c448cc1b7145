namespace Drover.Hub.Os;

/// <summary>How .NET's socket engine runs the hub's socket completions. By default each completed receive is handed from the
/// engine's epoll thread to the thread pool: one thread wake-up (and the pool's spinning before it sleeps again) per report.
/// At the rates a fleet reports at (10,000 agents every 60 s is 167 reports a second, each alone), those wake-ups were most of
/// the hub's CPU. With inline completions the epoll threads (one per core) run the read loop themselves, the way a C epoll
/// server does, and the thread pool is left to the periodic work (the flush, the sweep) and the HTTP API. The read loop keeps
/// only the hot path there (a status and its ack, a ping) and moves anything that may wait (a hello, a job result) to the
/// thread pool first (<c>AgentConnection.Read.cs</c>). Kestrel's HTTP connections are unaffected: Kestrel hands their data
/// to the thread pool itself.</summary>
public static class SocketEngine
{
    /// <summary>The runtime's switch (read once, when the process first uses an asynchronous socket).</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Turns inline completions on for this process unless the environment already decides (<c>0</c> keeps them
    /// off). Takes effect only before the process's first asynchronous socket operation: <c>drover serve</c> calls it first
    /// thing.</summary>
    public static void PreferInlineCompletions()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(InlineCompletionsVariable)))
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }
    }

    /// <summary>Awaited, moves the rest of the calling async method to the thread pool, unless <paramref name="hotPath"/> or
    /// the caller already runs there; a caller outside the pool is, with inline completions, on a socket engine thread that
    /// every connection of its share waits on.</summary>
    internal static PoolHop LeaveEngineThreadUnless(bool hotPath) => new(!hotPath && !Thread.CurrentThread.IsThreadPoolThread);

    /// <summary>The awaitable of <see cref="LeaveEngineThreadUnless"/>: like <c>Task.Yield</c>, but only when needed.</summary>
    internal readonly struct PoolHop(bool needed) : System.Runtime.CompilerServices.ICriticalNotifyCompletion
    {
        public bool IsCompleted => !needed;

        public PoolHop GetAwaiter() => this;

        public void GetResult()
        {
        }

        public void OnCompleted(Action continuation) => ThreadPool.QueueUserWorkItem(static run => run(), continuation, preferLocal: false);

        public void UnsafeOnCompleted(Action continuation) => ThreadPool.UnsafeQueueUserWorkItem(static run => run(), continuation, preferLocal: false);
    }
}
