using System.Runtime.InteropServices;

namespace Drover.Cli;

/// <summary>A token cancelled by Ctrl-C (SIGINT) or SIGTERM, so long-running commands stop cleanly:
/// the process is not killed, the command finishes its shutdown (bye to peers, final flush) and exits 0.</summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;

    private StopSignal(CancellationToken outer)
    {
        _stop = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _stop.Token;

    public static StopSignal Create(CancellationToken outer) => new(outer);

    /// <summary>Also stops after <paramref name="delay"/> (a --duration).</summary>
    public void CancelAfter(TimeSpan delay) => _stop.CancelAfter(delay);

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _stop.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        _stop.Cancel();
    }
}
