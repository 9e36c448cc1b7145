using BenchmarkDotNet.Running;

namespace Drover.Benchmarks;

/// <summary>Runs the benchmarks the command line selects, for example <c>--filter '*'</c> for all of them
/// or <c>--filter '*FrameCodec*'</c> for one class. Every class carries its own short job
/// (<see cref="ShortConfig"/>), so a full run takes a few minutes on two cores.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
