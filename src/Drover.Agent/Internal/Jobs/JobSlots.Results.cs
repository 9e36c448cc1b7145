using Drover.Agent.Internal.Session;
using Drover.Protocol;

namespace Drover.Agent.Internal.Jobs;

/// <summary>Results and sessions: which connection results go out on, the re-announce after a welcome, and sending
/// a held result once per session.</summary>
internal sealed partial class JobSlots
{
    /// <summary>Right after a welcome, before the read loop: job_accepted for every running job, then every result
    /// not yet acknowledged (oldest first). From here on, finished jobs send their results on this connection.</summary>
    public async Task ReannounceAsync(AgentConnection connection, string hub, CancellationToken sessionToken)
    {
        if (_stop is null)
        {
            return;
        }

        await _sendLock.WaitAsync(sessionToken).ConfigureAwait(false);
        try
        {
            JobKey[] running;
            HeldResult[] results;
            lock (_gate)
            {
                _connection = connection;
                _sessionToken = sessionToken;
                running = [.. _running.Keys];
                results = [.. _results.Values];
                foreach (var result in results)
                {
                    result.SentOn = connection;
                }
            }

            foreach (var key in running)
            {
                await connection.SendAsync(new JobAccepted(key.JobId, key.Attempt), sessionToken).ConfigureAwait(false);
            }

            foreach (var result in results)
            {
                await connection.SendAsync(BuildResultMessage(result), sessionToken).ConfigureAwait(false);
            }

            if (running.Length + results.Length > 0)
            {
                Log.JobsReannounced(_logger, AgentId, hub, running.Length, results.Length);
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>The session ended: results wait for the next one.</summary>
    public void Detach(AgentConnection connection)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_connection, connection))
            {
                _connection = null;
                _sessionToken = CancellationToken.None;
            }
        }
    }

    /// <summary>Sends a held result on the current connection unless it already went out on it. A write failure
    /// closes the connection (the read loop sees it); the result is sent again after the next welcome.</summary>
    private async Task SendResultAsync(HeldResult result)
    {
        AgentConnection? connection;
        CancellationToken token;
        lock (_gate)
        {
            connection = _connection;
            token = _sessionToken;
        }

        if (connection is null)
        {
            return;
        }

        try
        {
            await _sendLock.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        try
        {
            lock (_gate)
            {
                if (!ReferenceEquals(connection, _connection) || ReferenceEquals(result.SentOn, connection)
                    || !_results.ContainsKey(result.Key))
                {
                    return;
                }

                result.SentOn = connection;
            }

            await connection.SendAsync(BuildResultMessage(result), token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            connection.Abort();
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private JobResult BuildResultMessage(HeldResult held) => ResultFrame.Build(held, _limits.MaxFrameSize, _options.MaxOutFileBytes);
}
