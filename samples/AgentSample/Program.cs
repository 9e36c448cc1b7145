// A Drover agent embedded in a program of its own: it connects to a hub, registers, reports its status
// (with one field of its own) on the hub's schedule, and runs the jobs the hub sends with an in-process
// handler that counts the lines and bytes of each file. Ctrl-C or SIGTERM stops it (it says bye first).
//
//   dotnet run --project samples/AgentSample -- --hub 127.0.0.1:7400 --id sample-1 --hub-fingerprint AB:CD:...
//
// It trusts the hub by the key fingerprint the hub prints at start (--hub-fingerprint), by a CA file (--ca, the hub's
// own is DATA/tls/ca.pem), or not at all with --insecure (plain TCP, for a hub started with --insecure).
using Drover.Agent;
using Drover.Protocol;

var hub = ArgValue(args, "--hub") ?? "127.0.0.1:7400";
var id = ArgValue(args, "--id") ?? Environment.MachineName;
var token = Environment.GetEnvironmentVariable("DROVER_TOKEN") ?? string.Empty;
var trust = ArgValue(args, "--hub-fingerprint") is { } fingerprint ? HubTrust.FromKeyFingerprint(fingerprint)
    : ArgValue(args, "--ca") is { } caFile ? HubTrust.FromAuthorityFile(caFile)
    : args.Contains("--insecure") ? HubTrust.Insecure
    : null;
if (trust is null)
{
    Console.Error.WriteLine("agent: give --hub-fingerprint KEY (the hub prints it at start), --ca FILE, or --insecure");
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
    System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Cancel(); });

var handler = new LineCounter();
await using var agent = new DroverAgent(new AgentOptions
{
    Hubs = [hub],
    AgentId = id,
    Trust = trust,
    Token = token,
    Labels = new Dictionary<string, string> { ["kind"] = "sample" },
    JobHandler = handler,
    JobSlots = 2,
    WorkDirectory = Path.Combine(Path.GetTempPath(), "drover-agent-sample-" + id),
});
agent.SetField("sample", FieldValue.From("agent-sample"));

// Print the agent's lifecycle (connected, disconnected and why) as it happens.
_ = Task.Run(async () =>
{
    await foreach (var e in agent.Events.ReadAllAsync(stop.Token))
    {
        Console.WriteLine(e.Kind == AgentEventKind.Disconnected
            ? $"agent {id}: disconnected from {e.Hub} ({e.Reason}), retrying in {e.RetryIn}"
            : $"agent {id}: {e.Kind} {e.Hub} {e.JobId}");
    }
});

Console.WriteLine($"agent {id}: connecting to {hub}");
try
{
    await agent.RunAsync(stop.Token);
}
catch (AgentRefusedException ex)
{
    Console.Error.WriteLine($"agent {id}: refused by the hub: {ex.Message}");
    return 1;
}

Console.WriteLine($"agent {id}: stopped after {handler.Jobs} jobs");
return 0;

static string? ArgValue(string[] args, string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

/// <summary>The in-process job handler: counts the file's lines and bytes, writes them to the out file
/// (which goes back to the hub with the result) and to stdout (whose tail the result carries).</summary>
internal sealed class LineCounter : IJobHandler
{
    private int _jobs;

    public int Jobs => Volatile.Read(ref _jobs);

    public async ValueTask<JobHandlerResult> RunAsync(JobContext job, CancellationToken cancellationToken)
    {
        var bytes = await File.ReadAllBytesAsync(job.FilePath, cancellationToken);
        var lines = bytes.Count(b => b == (byte)'\n');
        var summary = $"{job.FileName}: {lines} lines, {bytes.Length} bytes\n";
        await File.WriteAllTextAsync(job.OutPath, summary, cancellationToken);
        Interlocked.Increment(ref _jobs);
        return new JobHandlerResult(0) { StdoutTail = System.Text.Encoding.UTF8.GetBytes(summary) };
    }
}
