using System.Buffers;

namespace Drover.Fuzz;

/// <summary>Bytes as a <see cref="ReadOnlySequence{T}"/> of many small segments, as a pipe delivers a stream that
/// arrived in small reads: the sequence readers' slow paths (a header or a field across a segment end) run.</summary>
internal sealed class SegmentedSequence : ReadOnlySequenceSegment<byte>
{
    private SegmentedSequence(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary>Cuts <paramref name="bytes"/> into segments of <paramref name="segmentSize"/> bytes (the last may be
    /// shorter). An empty array gives an empty sequence.</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, int segmentSize)
    {
        if (bytes.Length <= segmentSize)
        {
            return new ReadOnlySequence<byte>(bytes);
        }

        var first = new SegmentedSequence(bytes.AsMemory(0, segmentSize), 0);
        var last = first;
        for (var start = segmentSize; start < bytes.Length; start += segmentSize)
        {
            var next = new SegmentedSequence(bytes.AsMemory(start, Math.Min(segmentSize, bytes.Length - start)), start);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
