using System.Buffers;
using Drover.Protocol;

namespace Drover.Fuzz;

/// <summary>The fuzz target: one input is a byte stream as an agent's socket would deliver it, read as frames until the
/// bytes run out, need more, or the first error (where the hub closes the connection). The decoders promise one thing
/// for bad input: a <see cref="ProtocolException"/>. Anything else that escapes <see cref="Run"/> is a finding:
/// another exception from a decoder (IndexOutOfRange, Overflow, ArgumentOutOfRange, an OutOfMemory from a lying
/// count), or an <see cref="InvalidOperationException"/> thrown here when two readings of the same bytes disagree.</summary>
/// <remarks>The oracles, each a promise the hub relies on:
/// <list type="number">
/// <item>The span reader and the sequence reader (the input cut into small segments, so headers and fields straddle
/// segment ends) see the same frames and the same errors, and a "need more" never advances the sequence.</item>
/// <item>A frame that decodes re-encodes to exactly its own bytes (one encoding per message: nothing the decoder
/// accepted is lost or invented).</item>
/// <item><see cref="Status.Validate"/>, which the hub runs on every report instead of decoding it, accepts exactly
/// the status payloads that <see cref="FrameCodec.Decode(MessageType, ReadOnlySpan{byte})"/> accepts, with the same
/// sequence number and the same error code: the hub stores validated bytes and decodes them later for the API.</item>
/// <item>What the hub does next with a decoded message's peer strings and fields does not throw: the agent id rule,
/// <see cref="LogText.Escape"/> for log lines and <see cref="FieldJson.ToJson"/> for the API and the store.</item>
/// </list></remarks>
public static class FrameTarget
{
    /// <summary>The cap the hub applies after the handshake (an agent without job slots).</summary>
    public const int MaxFrameSize = ProtocolConstants.DefaultMaxFrameSize;

    /// <summary>Runs one input through every oracle; returns the number of frames that decoded.</summary>
    public static int Run(ReadOnlySpan<byte> input)
    {
        var fromSpan = ReadSpan(input);
        var fromSequence = ReadSequence(input);
        if (!fromSpan.SequenceEqual(fromSequence))
        {
            throw new InvalidOperationException(
                $"span and sequence readers disagree: [{string.Join(", ", fromSpan)}] vs [{string.Join(", ", fromSequence)}]");
        }

        return fromSpan.Count(o => o.Error is null);
    }

    /// <summary>What a reader made of one frame (or of the bytes where it stopped).</summary>
    private readonly record struct Outcome(MessageType Type, int Length, ErrorCode? Error);

    private static List<Outcome> ReadSpan(ReadOnlySpan<byte> input)
    {
        var outcomes = new List<Outcome>();
        var rest = input;
        while (true)
        {
            bool complete;
            MessageType type;
            ReadOnlySpan<byte> payload;
            int consumed;
            try
            {
                complete = FrameCodec.TryReadFrame(rest, MaxFrameSize, out type, out payload, out consumed);
            }
            catch (ProtocolException ex)
            {
                outcomes.Add(new(default, -1, ex.Code));
                return outcomes;
            }

            if (!complete)
            {
                if (consumed != 0 || !payload.IsEmpty)
                {
                    throw new InvalidOperationException($"'need more' consumed {consumed} bytes");
                }

                return outcomes;
            }

            var outcome = DecodeAndCheck(type, payload, rest[..consumed]);
            outcomes.Add(outcome);
            if (outcome.Error is not null)
            {
                return outcomes;
            }

            rest = rest[consumed..];
        }
    }

    private static List<Outcome> ReadSequence(ReadOnlySpan<byte> input)
    {
        var bytes = input.ToArray();
        var sequence = SegmentedSequence.Split(bytes, input.Length <= 4096 ? 1 : 61);
        var outcomes = new List<Outcome>();
        while (true)
        {
            var before = sequence.Length;
            bool complete;
            MessageType type;
            ReadOnlySequence<byte> payload;
            try
            {
                complete = FrameCodec.TryReadFrame(ref sequence, MaxFrameSize, out type, out payload);
            }
            catch (ProtocolException ex)
            {
                outcomes.Add(new(default, -1, ex.Code));
                return outcomes;
            }

            if (!complete)
            {
                if (sequence.Length != before)
                {
                    throw new InvalidOperationException($"'need more' advanced the sequence from {before} to {sequence.Length} bytes");
                }

                return outcomes;
            }

            var start = bytes.Length - (int)before;
            var frame = bytes.AsSpan(start, ProtocolConstants.HeaderSize + (int)payload.Length);
            Message message;
            try
            {
                message = FrameCodec.Decode(type, payload);
            }
            catch (ProtocolException ex)
            {
                outcomes.Add(new(type, (int)payload.Length, ex.Code));
                return outcomes;
            }

            CheckReencoding(message, frame);
            outcomes.Add(new(type, (int)payload.Length, null));
        }
    }

    private static Outcome DecodeAndCheck(MessageType type, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> frame)
    {
        ErrorCode? validateError = null;
        ulong validatedSequence = 0;
        if (type == MessageType.Status)
        {
            try
            {
                validatedSequence = Status.Validate(payload, ushort.MaxValue);
            }
            catch (ProtocolException ex)
            {
                validateError = ex.Code;
            }

            // The hub's own cap: a count over it is InvalidStatus, whatever follows; otherwise the same verdict.
            ErrorCode? cappedError = null;
            try
            {
                Status.Validate(payload, ProtocolConstants.DefaultMaxStatusFields);
            }
            catch (ProtocolException ex)
            {
                cappedError = ex.Code;
            }

            if (cappedError != validateError && cappedError != ErrorCode.InvalidStatus)
            {
                throw new InvalidOperationException($"Status.Validate said {validateError?.ToString() ?? "valid"} without a field cap, {cappedError?.ToString() ?? "valid"} with it");
            }
        }

        Message message;
        try
        {
            message = FrameCodec.Decode(type, payload);
        }
        catch (ProtocolException ex)
        {
            if (type == MessageType.Status && validateError != ex.Code)
            {
                throw new InvalidOperationException($"Status.Validate said {validateError?.ToString() ?? "valid"}, Decode threw {ex.Code}: {ex.Message}");
            }

            return new(type, payload.Length, ex.Code);
        }

        if (message is Status status && (validateError is not null || status.Sequence != validatedSequence))
        {
            throw new InvalidOperationException($"Decode accepted a status that Status.Validate rejected ({validateError}) or read another sequence");
        }

        CheckReencoding(message, frame);
        UseLikeTheHub(message);
        return new(type, payload.Length, null);
    }

    private static void CheckReencoding(Message message, ReadOnlySpan<byte> frame)
    {
        var again = FrameCodec.ToArray(message);
        if (!frame.SequenceEqual(again))
        {
            throw new InvalidOperationException(
                $"{message.Type} re-encodes differently: in {Convert.ToHexString(frame)}, out {Convert.ToHexString(again)}");
        }
    }

    /// <summary>What the hub and the agent do with a decoded message's peer-controlled parts.</summary>
    private static void UseLikeTheHub(Message message)
    {
        switch (message)
        {
            case Hello hello:
                AgentIds.IsValid(hello.AgentId, out _);
                LogText.Escape(hello.AgentId);
                LogText.Escape(hello.AgentVersion);
                foreach (var (key, value) in hello.Labels)
                {
                    LogText.Escape(key);
                    LogText.Escape(value);
                }

                break;
            case Status status:
                FieldJson.ToJson(status.Fields);
                break;
            case Bye bye:
                LogText.Escape(bye.Reason, LogText.LongTextMaxLength);
                break;
            case Refuse refuse:
                LogText.Escape(refuse.Reason, LogText.LongTextMaxLength);
                break;
            case JobBusy busy:
                LogText.Escape(busy.JobId);
                LogText.Escape(busy.Reason, LogText.LongTextMaxLength);
                break;
            case JobResult result:
                LogText.Escape(result.JobId);
                LogText.Escape(result.Error, LogText.LongTextMaxLength);
                break;
            case Job job:
                LogText.Escape(job.FileName);
                break;
        }
    }
}
