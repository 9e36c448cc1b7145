namespace Drover.Hub.Jobs;

/// <summary>Wakes the <see cref="DispatchLoop"/> for a placement pass (jobs arrived, an agent with slots connected,
/// a slot freed). Signals while a pass is pending coalesce into that one pass.</summary>
internal sealed class PlacementSignal : IDisposable
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private int _signaled;

    /// <summary>Asks for a pass.</summary>
    public void Signal()
    {
        if (Interlocked.Exchange(ref _signaled, 1) == 0)
        {
            _wake.Release();
        }
    }

    /// <summary>Waits for a signal, then takes it (a signal after this returns asks for another pass).</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        await _wake.WaitAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _signaled, 0);
    }

    public void Dispose() => _wake.Dispose();
}
