namespace Drover.Protocol;

/// <summary>The one exception type for malformed or disallowed input. Its <see cref="Code"/> is what
/// the receiver sends back in a refuse or bye frame before it closes.</summary>
public sealed class ProtocolException : Exception
{
    public ProtocolException(ErrorCode code, string message)
        : base(message)
    {
        Code = code;
    }

    public ProtocolException()
        : this(ErrorCode.Malformed, "malformed frame")
    {
    }

    public ProtocolException(string message)
        : this(ErrorCode.Malformed, message)
    {
    }

    public ProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = ErrorCode.Malformed;
    }

    public ErrorCode Code { get; }
}
