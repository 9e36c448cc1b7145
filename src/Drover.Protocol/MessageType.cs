namespace Drover.Protocol;

/// <summary>The one-byte message type of a frame. Ranges: 0x01-0x0F handshake, 0x10-0x1F status and
/// liveness, 0x20-0x2F hub control, 0x30-0x4F jobs, 0x50-0x7F reserved.</summary>
public enum MessageType : byte
{
    Hello = 0x01,
    Welcome = 0x02,
    Refuse = 0x03,
    KeyRotate = 0x04,
    KeyExpiry = 0x05,
    Status = 0x10,
    StatusAck = 0x11,
    Ping = 0x12,
    Pong = 0x13,
    Backoff = 0x20,
    Redirect = 0x21,
    Reschedule = 0x22,
    Bye = 0x2F,
    Job = 0x30,
    JobAccepted = 0x31,
    JobBusy = 0x32,
    JobResult = 0x33,
    JobResultAck = 0x34,
    JobCancel = 0x35,
}
