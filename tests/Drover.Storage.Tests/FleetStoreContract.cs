namespace Drover.Storage.Tests;

/// <summary>The behaviour every <see cref="IFleetStore"/> must have. An implementation's test class
/// derives from this and says how to create and reopen a store; every test here then runs against it.</summary>
public abstract partial class FleetStoreContract : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly List<IFleetStore> _opened = [];

    /// <summary>A new, empty store called <paramref name="name"/>, already initialized.</summary>
    protected abstract Task<IFleetStore> CreateStoreAsync(string name);

    /// <summary>The existing store called <paramref name="name"/> opened again (after the previous
    /// instance was disposed), initialized.</summary>
    protected abstract Task<IFleetStore> ReopenStoreAsync(string name);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (IFleetStore store in _opened)
        {
            await store.DisposeAsync();
        }
    }

    protected async Task<IFleetStore> NewStoreAsync(string name = "fleet")
    {
        IFleetStore store = await CreateStoreAsync(name);
        _opened.Add(store);
        return store;
    }

    protected async Task<IFleetStore> ReopenAsync(string name = "fleet")
    {
        IFleetStore store = await ReopenStoreAsync(name);
        _opened.Add(store);
        return store;
    }

    protected static AgentRecord Agent(
        string id,
        Presence presence = Presence.Online,
        ulong epoch = 1,
        long slot = 0,
        DateTimeOffset? firstSeen = null,
        string version = "1.0.0",
        StatusRecord? status = null) => new()
        {
            Id = id,
            Labels = new Dictionary<string, string> { ["role"] = "build" },
            Address = "10.0.0.1:40000",
            Version = version,
            HubNode = "hub-a",
            FirstSeen = firstSeen ?? T0,
            LastSeen = T0.AddMinutes(1),
            Presence = presence,
            SessionEpoch = epoch,
            SlotOrdinal = slot,
            Status = status,
        };

    protected static StatusSample Sample(string agentId, ulong seq, DateTimeOffset at, int? progress = 50) =>
        new(agentId, new StatusRecord(seq, "busy", progress, $"{{\"n\":{seq}}}", at));

    protected static Task WriteAsync(IFleetStore store, params AgentRecord[] agents) =>
        store.WriteBatchAsync(agents, [], CancellationToken.None);

    protected static Task WriteAsync(IFleetStore store, params StatusSample[] samples) =>
        store.WriteBatchAsync([], samples, CancellationToken.None);

    protected static void AssertSameAgent(AgentRecord expected, AgentRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Labels.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Labels.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Address, actual.Address);
        Assert.Equal(expected.Version, actual.Version);
        Assert.Equal(expected.HubNode, actual.HubNode);
        Assert.Equal(expected.FirstSeen, actual.FirstSeen);
        Assert.Equal(expected.LastSeen, actual.LastSeen);
        Assert.Equal(expected.Presence, actual.Presence);
        Assert.Equal(expected.SessionEpoch, actual.SessionEpoch);
        Assert.Equal(expected.SlotOrdinal, actual.SlotOrdinal);
        Assert.Equal(expected.LastDisconnectReason, actual.LastDisconnectReason);
        Assert.Equal(expected.Status, actual.Status);
    }

    [Fact]
    public async Task Agent_round_trips_every_field()
    {
        IFleetStore store = await NewStoreAsync();
        var agent = new AgentRecord
        {
            Id = "agent-1",
            Labels = new Dictionary<string, string>
            {
                ["role"] = "build",
                ["zone"] = "eu-west \"1\"",
                ["ünïcode"] = "✓ {json} \\ ,",
                ["empty"] = "",
            },
            Address = "192.168.1.20:51234",
            Version = "2.3.4-beta",
            HubNode = "hub-7",
            FirstSeen = new DateTimeOffset(2025, 3, 1, 14, 0, 0, 250, TimeSpan.FromHours(2)),
            LastSeen = T0.AddMinutes(5).AddMilliseconds(123),
            Presence = Presence.Late,
            SessionEpoch = ulong.MaxValue - 7,
            SlotOrdinal = 123_456_789_012,
            LastDisconnectReason = "heartbeat-timeout",
            Status = new StatusRecord(ulong.MaxValue - 1, "busy", 42, """{"load1":0.5,"disk":"ok","nested":{"a":[1,2]}}""", T0.AddSeconds(1)),
        };

        await WriteAsync(store, agent);

        AssertSameAgent(agent, await store.GetAgentAsync("agent-1", CancellationToken.None));
        AssertSameAgent(agent, Assert.Single(await store.LoadAgentsAsync(CancellationToken.None)));
    }

    [Fact]
    public async Task Agent_round_trips_nulls_and_empties()
    {
        IFleetStore store = await NewStoreAsync();
        var bare = new AgentRecord { Id = "bare", FirstSeen = T0, LastSeen = T0 };
        var noProgress = Agent("no-progress", status: new StatusRecord(0, "idle", null, "{}", T0));

        await WriteAsync(store, bare, noProgress);

        AgentRecord? readBare = await store.GetAgentAsync("bare", CancellationToken.None);
        AssertSameAgent(bare, readBare);
        Assert.Null(readBare!.Status);
        Assert.Null(readBare.LastDisconnectReason);
        Assert.Empty(readBare.Labels);
        Assert.Equal(0UL, readBare.SessionEpoch);

        AgentRecord? readNoProgress = await store.GetAgentAsync("no-progress", CancellationToken.None);
        AssertSameAgent(noProgress, readNoProgress);
        Assert.Null(readNoProgress!.Status!.Progress);
    }

    [Theory]
    [InlineData(Presence.Online)]
    [InlineData(Presence.Late)]
    [InlineData(Presence.Lost)]
    [InlineData(Presence.Stale)]
    [InlineData(Presence.Retired)]
    public async Task Every_presence_round_trips(Presence presence)
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, Agent("a", presence));

        AgentRecord? read = await store.GetAgentAsync("a", CancellationToken.None);

        Assert.Equal(presence, read!.Presence);
    }

    [Fact]
    public async Task Unknown_agent_is_null()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, Agent("known"));

        Assert.Null(await store.GetAgentAsync("unknown", CancellationToken.None));
    }

    [Fact]
    public async Task Upsert_keeps_first_seen_and_replaces_everything_else()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, Agent("a", firstSeen: T0, status: new StatusRecord(1, "idle", null, "{}", T0)) with
        {
            LastDisconnectReason = "old reason",
        });

        AgentRecord second = Agent("a", Presence.Lost, epoch: 9, slot: 4, firstSeen: T0.AddDays(1), version: "2.0.0") with
        {
            Labels = new Dictionary<string, string> { ["zone"] = "b" },
            Address = "10.9.9.9:1",
            HubNode = "hub-b",
            LastSeen = T0.AddDays(1),
            LastDisconnectReason = null,
            Status = null,
        };
        await WriteAsync(store, second);

        AgentRecord? read = await store.GetAgentAsync("a", CancellationToken.None);
        AssertSameAgent(second with { FirstSeen = T0 }, read);
    }

    [Fact]
    public async Task Same_agent_twice_in_one_batch_last_wins()
    {
        IFleetStore store = await NewStoreAsync();

        await WriteAsync(store, Agent("a", version: "1"), Agent("a", version: "2"));

        Assert.Equal("2", (await store.GetAgentAsync("a", CancellationToken.None))!.Version);
        Assert.Single(await store.LoadAgentsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Load_returns_every_agent_except_retired()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(
            store,
            Agent("online", Presence.Online),
            Agent("late", Presence.Late),
            Agent("lost", Presence.Lost),
            Agent("stale", Presence.Stale),
            Agent("retired", Presence.Retired));

        IReadOnlyList<AgentRecord> loaded = await store.LoadAgentsAsync(CancellationToken.None);

        Assert.Equal(["late", "lost", "online", "stale"], loaded.Select(a => a.Id).Order(StringComparer.Ordinal));
        Assert.Equal(Presence.Retired, (await store.GetAgentAsync("retired", CancellationToken.None))!.Presence);
    }

    [Fact]
    public async Task Load_of_an_empty_store_is_empty()
    {
        IFleetStore store = await NewStoreAsync();

        Assert.Empty(await store.LoadAgentsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Empty_batch_writes_nothing()
    {
        IFleetStore store = await NewStoreAsync();

        await store.WriteBatchAsync([], [], CancellationToken.None);

        Assert.Empty(await store.LoadAgentsAsync(CancellationToken.None));
        Assert.Equal((0UL, 0L), await store.GetCountersAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Data_survives_dispose_and_reopen()
    {
        IFleetStore store = await NewStoreAsync("durable");
        AgentRecord agent = Agent("a", Presence.Stale, epoch: ulong.MaxValue, slot: 77, status: new StatusRecord(5, "draining", 99, """{"x":1}""", T0));
        await store.WriteBatchAsync([agent, Agent("r", Presence.Retired, slot: 80)], [Sample("a", 1, T0), Sample("a", 2, T0.AddSeconds(1))], CancellationToken.None);
        await store.DisposeAsync();

        IFleetStore reopened = await ReopenAsync("durable");

        AssertSameAgent(agent, Assert.Single(await reopened.LoadAgentsAsync(CancellationToken.None)));
        Assert.Equal([2UL, 1UL], (await reopened.GetStatusHistoryAsync("a", 10, CancellationToken.None)).Select(s => s.Status.Sequence));
        Assert.Equal((ulong.MaxValue, 80L), await reopened.GetCountersAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Initialize_twice_keeps_data()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, Agent("a"));

        await store.InitializeAsync(CancellationToken.None);

        Assert.NotNull(await store.GetAgentAsync("a", CancellationToken.None));
    }

    [Fact]
    public async Task History_is_newest_first_limited_and_per_agent()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, [.. Enumerable.Range(1, 5).Select(i => Sample("a", (ulong)i, T0.AddSeconds(i)))]);
        await WriteAsync(store, [.. Enumerable.Range(6, 5).Select(i => Sample("a", (ulong)i, T0.AddSeconds(i)))]);
        await WriteAsync(store, [.. Enumerable.Range(1, 3).Select(i => Sample("b", (ulong)(100 + i), T0.AddSeconds(i)))]);

        IReadOnlyList<StatusSample> a = await store.GetStatusHistoryAsync("a", 4, CancellationToken.None);
        IReadOnlyList<StatusSample> b = await store.GetStatusHistoryAsync("b", 100, CancellationToken.None);

        Assert.Equal([10UL, 9UL, 8UL, 7UL], a.Select(s => s.Status.Sequence));
        Assert.All(a, s => Assert.Equal("a", s.AgentId));
        Assert.Equal(Sample("a", 10, T0.AddSeconds(10)), a[0]);
        Assert.Equal([103UL, 102UL, 101UL], b.Select(s => s.Status.Sequence));
        Assert.Empty(await store.GetStatusHistoryAsync("nobody", 10, CancellationToken.None));
        Assert.Empty(await store.GetStatusHistoryAsync("a", 0, CancellationToken.None));
    }

    [Fact]
    public async Task History_round_trips_sample_fields()
    {
        IFleetStore store = await NewStoreAsync();
        var sample = new StatusSample("a", new StatusRecord(ulong.MaxValue, "unknown", null, """{"msg":"é \"q\""}""", T0.AddMilliseconds(7)));

        await WriteAsync(store, sample);

        Assert.Equal(sample, Assert.Single(await store.GetStatusHistoryAsync("a", 5, CancellationToken.None)));
    }

    [Fact]
    public async Task History_with_a_negative_limit_is_rejected()
    {
        IFleetStore store = await NewStoreAsync();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.GetStatusHistoryAsync("a", -1, CancellationToken.None));
    }

    [Fact]
    public async Task Prune_by_count_keeps_the_newest_per_agent()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, [
            .. Enumerable.Range(1, 10).Select(i => Sample("a", (ulong)i, T0)),
            .. Enumerable.Range(1, 3).Select(i => Sample("b", (ulong)i, T0)),
            .. Enumerable.Range(1, 6).Select(i => Sample("c", (ulong)i, T0)),
        ]);

        int deleted = await store.PruneStatusHistoryAsync(4, DateTimeOffset.MinValue, CancellationToken.None);

        Assert.Equal(6 + 0 + 2, deleted);
        Assert.Equal((ulong[])[10UL, 9UL, 8UL, 7UL], await SequencesAsync(store, "a"));
        Assert.Equal((ulong[])[3UL, 2UL, 1UL], await SequencesAsync(store, "b"));
        Assert.Equal((ulong[])[6UL, 5UL, 4UL, 3UL], await SequencesAsync(store, "c"));
        Assert.Equal(0, await store.PruneStatusHistoryAsync(4, DateTimeOffset.MinValue, CancellationToken.None));
    }

    [Fact]
    public async Task Prune_by_age_deletes_only_older_samples()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, [
            .. Enumerable.Range(0, 10).Select(i => Sample("a", (ulong)i, T0.AddMinutes(i))),
            .. Enumerable.Range(0, 2).Select(i => Sample("b", (ulong)i, T0.AddMinutes(10 + i))),
        ]);

        int deleted = await store.PruneStatusHistoryAsync(1000, T0.AddMinutes(4), CancellationToken.None);

        Assert.Equal(4, deleted);
        Assert.Equal((ulong[])[9UL, 8UL, 7UL, 6UL, 5UL, 4UL], await SequencesAsync(store, "a"));
        Assert.Equal((ulong[])[1UL, 0UL], await SequencesAsync(store, "b"));
    }

    [Fact]
    public async Task Prune_by_count_and_age_counts_each_sample_once()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, [.. Enumerable.Range(0, 10).Select(i => Sample("a", (ulong)i, T0.AddMinutes(i)))]);

        // By count: 0-4 go. By age: 0-6 go. Together: 0-6, seven samples.
        int deleted = await store.PruneStatusHistoryAsync(5, T0.AddMinutes(7), CancellationToken.None);

        Assert.Equal(7, deleted);
        Assert.Equal((ulong[])[9UL, 8UL, 7UL], await SequencesAsync(store, "a"));
    }

    [Fact]
    public async Task Prune_with_a_negative_count_is_rejected()
    {
        IFleetStore store = await NewStoreAsync();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.PruneStatusHistoryAsync(-1, T0, CancellationToken.None));
    }

    [Fact]
    public async Task Counters_of_an_empty_store_are_zero()
    {
        IFleetStore store = await NewStoreAsync();

        Assert.Equal((0UL, 0L), await store.GetCountersAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Counters_are_the_maxima_below_long_max()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(store, Agent("a", epoch: 17, slot: 3), Agent("b", epoch: 4, slot: 12));

        Assert.Equal((17UL, 12L), await store.GetCountersAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Counters_treat_epochs_as_unsigned_and_include_retired_agents()
    {
        IFleetStore store = await NewStoreAsync();
        await WriteAsync(
            store,
            Agent("a", epoch: 5, slot: 3),
            Agent("b", epoch: long.MaxValue, slot: 99),
            Agent("c", epoch: (ulong)long.MaxValue + 10, slot: 7),
            Agent("d", Presence.Retired, epoch: ulong.MaxValue - 3, slot: 150),
            Agent("e", epoch: (ulong)long.MaxValue + 1, slot: 1));

        Assert.Equal((ulong.MaxValue - 3, 150L), await store.GetCountersAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_batch_of_20000_agents_in_one_call_is_written()
    {
        const int count = 20_000;
        IFleetStore store = await NewStoreAsync();
        AgentRecord[] agents = [.. Enumerable.Range(0, count).Select(i => Agent(
            $"agent-{i:D5}",
            epoch: (ulong)i + 1,
            slot: i,
            status: new StatusRecord((ulong)i, "idle", i % 101, $$"""{"i":{{i}}}""", T0.AddMilliseconds(i))))];
        StatusSample[] history = [.. agents.Select(a => new StatusSample(a.Id, a.Status!))];

        await store.WriteBatchAsync(agents, history, CancellationToken.None);

        IReadOnlyList<AgentRecord> loaded = await store.LoadAgentsAsync(CancellationToken.None);
        Assert.Equal(count, loaded.Count);
        Assert.Equal(count, loaded.Select(a => a.Id).Distinct().Count());
        AssertSameAgent(agents[12_345], await store.GetAgentAsync("agent-12345", CancellationToken.None));
        Assert.Equal(history[19_999], Assert.Single(await store.GetStatusHistoryAsync("agent-19999", 10, CancellationToken.None)));
        Assert.Equal(((ulong)count, (long)count - 1), await store.GetCountersAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Reads_during_a_write_succeed_and_see_the_last_committed_state()
    {
        IFleetStore store = await NewStoreAsync();
        await store.WriteBatchAsync(
            [.. Enumerable.Range(0, 100).Select(i => Agent($"old-{i}", version: "1", slot: i))],
            [Sample("old-5", 1, T0)],
            CancellationToken.None);

        AgentRecord[] batch = [
            .. Enumerable.Range(0, 100).Select(i => Agent($"old-{i}", version: "2", slot: i)),
            .. Enumerable.Range(0, 4_900).Select(i => Agent($"new-{i}", version: "2", slot: 100 + i)),
        ];
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        var gated = new GatedList<AgentRecord>(batch, 2_500, () =>
        {
            reached.SetResult();
            release.Wait(TimeSpan.FromSeconds(60));
        });

        // The store may do its I/O synchronously, so the writer gets its own thread.
        Task write = Task.Run(() => store.WriteBatchAsync(gated, [Sample("old-5", 2, T0)], CancellationToken.None));
        try
        {
            await reached.Task.WaitAsync(TimeSpan.FromSeconds(30));

            // The batch is half written and not committed: readers see the state before it.
            IReadOnlyList<AgentRecord> during = await store.LoadAgentsAsync(CancellationToken.None);
            Assert.Equal(100, during.Count);
            Assert.All(during, a => Assert.Equal("1", a.Version));
            Assert.Null(await store.GetAgentAsync("new-10", CancellationToken.None));
            Assert.Equal("1", (await store.GetAgentAsync("old-5", CancellationToken.None))!.Version);
            Assert.Single(await store.GetStatusHistoryAsync("old-5", 10, CancellationToken.None));
            Assert.Equal((1UL, 99L), await store.GetCountersAsync(CancellationToken.None));
            Assert.False(write.IsCompleted);
        }
        finally
        {
            release.Set();
        }

        await write.WaitAsync(TimeSpan.FromSeconds(60));
        IReadOnlyList<AgentRecord> after = await store.LoadAgentsAsync(CancellationToken.None);
        Assert.Equal(5_000, after.Count);
        Assert.All(after, a => Assert.Equal("2", a.Version));
        Assert.Equal(2, (await store.GetStatusHistoryAsync("old-5", 10, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task A_batch_cancelled_midway_writes_nothing_and_the_store_stays_usable()
    {
        IFleetStore store = await NewStoreAsync();
        AgentRecord seed = Agent("seed", version: "1");
        await WriteAsync(store, seed);

        using var cts = new CancellationTokenSource();
        AgentRecord[] batch = [Agent("seed", version: "2"), .. Enumerable.Range(0, 50).Select(i => Agent($"n-{i}"))];
        var gated = new GatedList<AgentRecord>(batch, 10, cts.Cancel);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => Task.Run(() => store.WriteBatchAsync(gated, [Sample("seed", 1, T0)], cts.Token)));

        AssertSameAgent(seed, Assert.Single(await store.LoadAgentsAsync(CancellationToken.None)));
        Assert.Empty(await store.GetStatusHistoryAsync("seed", 10, CancellationToken.None));

        await WriteAsync(store, Agent("after"));
        Assert.Equal(2, (await store.LoadAgentsAsync(CancellationToken.None)).Count);
    }

    private static async Task<ulong[]> SequencesAsync(IFleetStore store, string agentId) =>
        [.. (await store.GetStatusHistoryAsync(agentId, 1000, CancellationToken.None)).Select(s => s.Status.Sequence)];
}
