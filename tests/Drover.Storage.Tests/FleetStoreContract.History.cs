namespace Drover.Storage.Tests;

/// <summary>The contract's part for the status history pages, its downsampling, and the agent events.</summary>
public abstract partial class FleetStoreContract
{
    private static AgentEventRecord Event(string agentId, DateTimeOffset at, string kind = AgentEventKinds.Presence, string? reason = "late") =>
        new(0, agentId, at, kind, reason, $"{kind} at {at:O}");

    [Fact]
    public async Task Events_are_written_with_the_batch_and_read_newest_first_in_pages()
    {
        IFleetStore store = await NewStoreAsync();
        await store.WriteBatchAsync(
            [Agent("a")],
            [Sample("a", 1, T0)],
            [Event("a", T0, AgentEventKinds.SessionOpened, null), Event("b", T0.AddSeconds(1)), Event("a", T0.AddSeconds(2)), Event("a", T0.AddSeconds(3), AgentEventKinds.SessionClosed, "MissedReports")],
            CancellationToken.None);
        await store.WriteBatchAsync([], [], [Event("a", T0.AddSeconds(4), AgentEventKinds.Credential, "revoked")], CancellationToken.None);

        var all = await store.ReadAgentEventsAsync("a", null, null, 100, CancellationToken.None);
        Assert.Equal([AgentEventKinds.Credential, AgentEventKinds.SessionClosed, AgentEventKinds.Presence, AgentEventKinds.SessionOpened], all.Select(e => e.Kind));
        Assert.Equal(["revoked", "MissedReports", "late", null], all.Select(e => e.Reason));
        Assert.All(all, e => Assert.Equal("a", e.AgentId));
        Assert.Equal(T0.AddSeconds(4), all[0].At);
        Assert.Equal($"{AgentEventKinds.Credential} at {T0.AddSeconds(4):O}", all[0].Detail);

        // Pages: the next starts below the last id of the previous; since cuts the old end.
        var first = await store.ReadAgentEventsAsync("a", null, null, 2, CancellationToken.None);
        var second = await store.ReadAgentEventsAsync("a", null, first[^1].Id, 2, CancellationToken.None);
        Assert.Equal(all.Select(e => e.Id), first.Concat(second).Select(e => e.Id));
        Assert.Empty(await store.ReadAgentEventsAsync("a", null, second[^1].Id, 2, CancellationToken.None));
        Assert.Equal(3, (await store.ReadAgentEventsAsync("a", T0.AddSeconds(2), null, 100, CancellationToken.None)).Count);
        Assert.Single(await store.ReadAgentEventsAsync("b", null, null, 100, CancellationToken.None));
        Assert.Empty(await store.ReadAgentEventsAsync("nobody", null, null, 100, CancellationToken.None));

        // They survive a reopen.
        await store.DisposeAsync();
        IFleetStore reopened = await ReopenAsync();
        Assert.Equal(4, (await reopened.ReadAgentEventsAsync("a", null, null, 100, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Events_are_pruned_by_age()
    {
        IFleetStore store = await NewStoreAsync();
        await store.WriteBatchAsync([], [], [.. Enumerable.Range(0, 10).Select(i => Event(i % 2 == 0 ? "a" : "b", T0.AddDays(i)))], CancellationToken.None);

        Assert.Equal(7, await store.PruneAgentEventsAsync(T0.AddDays(7), CancellationToken.None));
        Assert.Equal([T0.AddDays(8)], (await store.ReadAgentEventsAsync("a", null, null, 100, CancellationToken.None)).Select(e => e.At));
        Assert.Equal([T0.AddDays(9), T0.AddDays(7)], (await store.ReadAgentEventsAsync("b", null, null, 100, CancellationToken.None)).Select(e => e.At));
        Assert.Equal(0, await store.PruneAgentEventsAsync(T0.AddDays(7), CancellationToken.None));
    }

    [Fact]
    public async Task History_pages_newest_first_with_since_and_a_cursor()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, [.. Enumerable.Range(0, 7).Select(i => Sample("a", (ulong)i, T0.AddMinutes(i))), Sample("b", 99, T0)]);

        var first = await store.ReadStatusHistoryAsync("a", null, null, 3, CancellationToken.None);
        Assert.Equal([6UL, 5UL, 4UL], first.Select(e => e.Status.Sequence));
        var second = await store.ReadStatusHistoryAsync("a", null, first[^1].Id, 3, CancellationToken.None);
        Assert.Equal([3UL, 2UL, 1UL], second.Select(e => e.Status.Sequence));
        Assert.Equal([6UL, 5UL], (await store.ReadStatusHistoryAsync("a", T0.AddMinutes(5), null, 10, CancellationToken.None)).Select(e => e.Status.Sequence));
        Assert.Equal([3UL, 2UL], (await store.ReadStatusHistoryAsync("a", T0.AddMinutes(2), first[^1].Id, 10, CancellationToken.None)).Select(e => e.Status.Sequence));
        Assert.Equal("{\"n\":6}", first[0].Status.FieldsJson);
        Assert.Equal(T0.AddMinutes(6), first[0].Status.ReceivedAt);
    }

    [Fact]
    public async Task Downsampling_keeps_the_newest_sample_per_agent_and_minute_inside_the_window_only()
    {
        IFleetStore store = await NewStoreAsync();

        // Two agents, a sample every 10 s for 5 minutes (seq = seconds since T0, T0 on a whole minute).
        await WriteAsync(store, [
            .. Enumerable.Range(0, 30).Select(i => Sample("a", (ulong)(i * 10), T0.AddSeconds(i * 10))),
            .. Enumerable.Range(0, 30).Select(i => Sample("b", (ulong)(i * 10), T0.AddSeconds(i * 10))),
        ]);

        // The first three minutes: 6 samples a minute become 1, the newest of each.
        int deleted = await store.DownsampleStatusHistoryAsync(T0, T0.AddMinutes(3), TimeSpan.FromMinutes(1), CancellationToken.None);

        Assert.Equal(2 * 3 * 5, deleted);
        ulong[] expected = [.. Enumerable.Range(18, 12).Select(i => (ulong)(i * 10)).Reverse(), 170, 110, 50];
        Assert.Equal(expected, await SequencesAsync(store, "a"));
        Assert.Equal(expected, await SequencesAsync(store, "b"));

        // Again over a window that overlaps: nothing more goes (each minute has one sample left); later minutes next time.
        Assert.Equal(0, await store.DownsampleStatusHistoryAsync(T0.AddMinutes(2), T0.AddMinutes(3), TimeSpan.FromMinutes(1), CancellationToken.None));
        Assert.Equal(2 * 5, await store.DownsampleStatusHistoryAsync(T0.AddMinutes(2), T0.AddMinutes(4), TimeSpan.FromMinutes(1), CancellationToken.None));
        ulong[] after = [290, 280, 270, 260, 250, 240, 230, 170, 110, 50];
        Assert.Equal(after, await SequencesAsync(store, "a"));
    }

    [Fact]
    public async Task Pruning_by_age_alone_leaves_the_count_per_agent_unchecked()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, [.. Enumerable.Range(0, 10).Select(i => Sample("a", (ulong)i, T0.AddMinutes(i)))]);

        Assert.Equal(2, await store.PruneStatusHistoryAsync(int.MaxValue, T0.AddMinutes(2), CancellationToken.None));
        Assert.Equal(8, (await SequencesAsync(store, "a")).Length);
    }
}
