using System.Threading.Channels;
using Drover.Protocol;

namespace Drover.Agent.Internal;

/// <summary>The agent's event stream (<see cref="DroverAgent.Events"/>), shared by the roles: created on first read,
/// bounded (drop oldest), so an agent nobody listens to costs nothing.</summary>
internal sealed class AgentEvents(TimeProvider time)
{
    private volatile Channel<AgentEvent>? _events;

    public ChannelReader<AgentEvent> Reader
    {
        get
        {
            var channel = _events;
            if (channel is null)
            {
                var created = Channel.CreateBounded<AgentEvent>(new BoundedChannelOptions(256)
                {
                    FullMode = BoundedChannelFullMode.DropOldest,
                    SingleReader = false,
                    SingleWriter = false,
                });
                channel = Interlocked.CompareExchange(ref _events, created, null) ?? created;
            }

            return channel.Reader;
        }
    }

    public void Emit(AgentEventKind kind, string? hub, DisconnectReason reason, ErrorCode code, string? detail, TimeSpan? retryIn)
    {
        _events?.Writer.TryWrite(new AgentEvent(kind, time.GetUtcNow(), hub, reason, code, detail, retryIn));
    }

    public void EmitJob(AgentEventKind kind, string? hub, string jobId, uint attempt, JobOutcome? outcome, string? detail)
    {
        _events?.Writer.TryWrite(new AgentEvent(kind, time.GetUtcNow(), hub, DisconnectReason.None, ErrorCode.None, detail, null)
        {
            JobId = jobId,
            Attempt = attempt,
            Outcome = outcome,
        });
    }

    public void Complete() => _events?.Writer.TryComplete();
}
