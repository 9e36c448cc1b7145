using Drover.Protocol;

namespace Drover.Agent.Internal.Session;

/// <summary>The limits the hub's last welcome set, read by the reports (fields, frame size) and the job results
/// (frame size). Defaults until the first welcome.</summary>
internal sealed class HubLimits
{
    private volatile int _maxStatusFields = ProtocolConstants.DefaultMaxStatusFields;
    private volatile int _maxFrameSize = ProtocolConstants.DefaultMaxFrameSize;

    public int MaxStatusFields => _maxStatusFields;

    public int MaxFrameSize => _maxFrameSize;

    public void Apply(Welcome welcome)
    {
        _maxStatusFields = welcome.MaxStatusFields;
        _maxFrameSize = welcome.MaxFrameSize == 0 ? ProtocolConstants.DefaultMaxFrameSize : (int)Math.Min(welcome.MaxFrameSize, int.MaxValue);
    }
}
