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
                if (BuildOrForget(result) is { } message)
                {
                    await connection.SendAsync(message, sessionToken).ConfigureAwait(false);
                }
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

            if (BuildOrForget(result) is { } message)
            {
                await connection.SendAsync(message, token).ConfigureAwait(false);
            }
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

    /// <summary>The result's frame, or null when it does not fit the hub's frame cap even with both tails empty
    /// and no out file (the job id and the error alone are too large; docs/protocol.md, Jobs, rule 6.4). Such a
    /// result is never sent, since every frame the agent sends fits <c>welcome.max_frame_size</c> (rule 1): it
    /// is forgotten, logged once, and its directory deleted. The hub records nothing for it and ends the attempt
    /// as failed when its lease or disconnect grace ends; the agent stays connected instead of being closed and
    /// sending it again after every welcome.</summary>
    private JobResult? BuildOrForget(HeldResult held)
    {
        var maxFrame = _limits.MaxFrameSize;
        var message = ResultFrame.Build(held, maxFrame, _options.MaxOutFileBytes);
        if (message.PayloadSize <= maxFrame)
        {
            return message;
        }

        bool removed;
        lock (_gate)
        {
            removed = _results.Remove(held.Key);
        }

        if (removed)
        {
            Log.JobResultDropped(_logger, AgentId, LogText.Escape(held.Key.JobId), held.Key.Attempt, message.PayloadSize, maxFrame);
            if (held.Directory is { } directory)
            {
                _ = Task.Run(() => _executor!.DeleteJobDirectory(directory), CancellationToken.None);
            }
        }

        return null;
    }
}
