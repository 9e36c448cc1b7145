using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;

namespace Drover.Benchmarks;

/// <summary>One launch, 3 warm-up and 5 measured iterations, allocations reported. Short on purpose:
/// the machine has two cores that other work shares, and the figures are for comparing orders of
/// magnitude and spotting regressions, not for the last percent.</summary>
public sealed class ShortConfig : ManualConfig
{
    public ShortConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(5).WithId("Short"));
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}

/// <summary>For benchmarks that need fresh state before every measured call ([IterationSetup]):
/// one call per iteration, so more iterations than <see cref="ShortConfig"/>.</summary>
public sealed class SingleCallConfig : ManualConfig
{
    public SingleCallConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(15)
            .WithInvocationCount(1).WithUnrollFactor(1).WithId("SingleCall"));
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}
