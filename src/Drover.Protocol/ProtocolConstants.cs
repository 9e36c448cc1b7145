namespace Drover.Protocol;

/// <summary>Fixed numbers of the Drover wire protocol (docs/protocol.md, "Framing").</summary>
public static class ProtocolConstants
{
    /// <summary>Every frame starts with a 4-byte big-endian payload length and a 1-byte message type.</summary>
    public const int HeaderSize = 5;

    /// <summary>The TLS application protocol (ALPN) name both sides offer on the agent port: a client of another protocol
    /// (HTTP, say) that reaches the agent port is refused in the TLS handshake.</summary>
    public static readonly System.Net.Security.SslApplicationProtocol TlsApplicationProtocol = new("drover/1");

    /// <summary>The first four bytes of a hello payload: ASCII "DRVR".</summary>
    public const uint HelloMagic = 0x44525652;

    /// <summary>The lowest protocol version this build speaks.</summary>
    public const ushort MinVersion = 1;

    /// <summary>The highest protocol version this build speaks.</summary>
    public const ushort MaxVersion = 1;

    /// <summary>Default cap on a frame's payload; the receiver checks it before it allocates anything.</summary>
    public const int DefaultMaxFrameSize = 64 * 1024;

    /// <summary>Cap on job frames: a 16 MiB file inline in a <see cref="Job"/> plus 64 KiB of metadata. An agent
    /// that advertises job slots (hello.job_slots &gt; 0) must accept hub frames up to this size; a hub that runs
    /// jobs sets welcome.max_frame_size to at least the largest <see cref="JobResult"/> it accepts.</summary>
    public const int MaxJobFrameSize = (16 * 1024 * 1024) + (64 * 1024);

    /// <summary>Length of <see cref="Job.Sha256"/>: a raw SHA-256 digest.</summary>
    public const int Sha256Length = 32;

    /// <summary>Cap on the payload of the hello frame, before a session is established.</summary>
    public const int MaxHelloFrameSize = 16 * 1024;

    /// <summary>Longest agent id, in UTF-8 bytes.</summary>
    public const int MaxAgentIdLength = 128;

    /// <summary>Default cap on free-form fields in one status report.</summary>
    public const int DefaultMaxStatusFields = 64;

    /// <summary>The value of <see cref="Status.Progress"/> that means "no progress to report".</summary>
    public const byte NoProgress = 0xFF;
}
