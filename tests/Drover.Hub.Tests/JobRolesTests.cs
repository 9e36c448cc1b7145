using Drover.Hub.Jobs;
using Drover.Protocol;
using Drover.Storage;
using Microsoft.Extensions.Time.Testing;
using static Drover.Hub.Tests.JobTestKit;

namespace Drover.Hub.Tests;

/// <summary>The job side's in-memory roles on their own, without sockets or a store: the table's room and counters,
/// and the per-target queues' order and stale entries.</summary>
public sealed class JobRolesTests
{
    private static ActiveJob Active(JobTable table, JobRecord record)
    {
        lock (table.Lock)
        {
            return new ActiveJob(record, table.NextOrderLocked(), JobTarget.Parse(record.Target));
        }
    }

    [Fact]
    public void The_table_reserves_room_up_to_the_job_limit_and_gives_it_back()
    {
        var table = new JobTable(new HubOptions { MaxQueuedJobs = 3, TimeProvider = new FakeTimeProvider(Start) });

        table.Reserve(2, 10, "");
        var full = Assert.Throws<JobQueueFullException>(() => table.Reserve(2, 10, ""));
        Assert.Contains("2 jobs (10 bytes) queued or running, the limit is 3 jobs", full.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(5), full.RetryAfter); // nothing finished yet: the default estimate

        table.Release(2, 10, "");
        table.Reserve(3, 30, ""); // exactly at the limit
        Assert.Throws<JobQueueFullException>(() => table.Reserve(1, 1, ""));
    }

    [Fact]
    public void One_token_cannot_hold_more_than_its_share_of_queued_bytes_and_gets_it_back_as_its_jobs_leave()
    {
        var table = new JobTable(new HubOptions { MaxFileSize = 10, MaxQueuedBytesPerToken = 30, TimeProvider = new FakeTimeProvider(Start) });

        table.Reserve(3, 30, "token-a");
        var full = Assert.Throws<JobQueueFullException>(() => table.Reserve(1, 10, "token-a"));
        Assert.True(full.PerSubmitter);
        Assert.Contains("token token-a has 30 bytes of job files queued or running; the limit per token is 30 bytes", full.Message, StringComparison.Ordinal);
        table.Reserve(3, 30, "token-b"); // another token has its own share
        table.Reserve(5, 50, string.Empty); // not counted per token

        // A job of token-a leaves (done, dead or cancelled): its bytes come back to token-a.
        var job = new ActiveJob(new JobRecord { Id = "j-a", State = JobStates.Queued, Target = "random", FileName = "a", FileSize = 10 }, 0, JobTarget.Parse("random")) { Submitter = "token-a" };
        lock (table.Lock)
        {
            table.AddSubmittedLocked(job);
            table.RemoveLocked(job, finished: true);
        }

        table.Reserve(1, 10, "token-a");
        Assert.Throws<JobQueueFullException>(() => table.Reserve(1, 1, "token-a"));
        table.Release(1, 10, "token-a");
        table.Reserve(1, 10, "token-a");
    }

    [Fact]
    public void Files_stay_in_memory_only_within_the_content_budget_and_leave_it_when_placed_or_gone()
    {
        var table = new JobTable(new HubOptions { TimeProvider = new FakeTimeProvider(Start) }, contentBudget: 10);
        var jobs = Enumerable.Range(0, 4).Select(i => Active(table, MakeJob(content: [(byte)i, 0, 0, 0]))).ToList();
        lock (table.Lock)
        {
            foreach (var job in jobs)
            {
                table.AddSubmittedLocked(job);
                table.TryHoldContentLocked(job, job.Record.Content);
            }

            // 4 + 4 fit the 10 bytes; the third and fourth (other files) are left to the store.
            Assert.Equal([true, true, false, false], jobs.Select(j => j.Content is not null));
            Assert.Equal(8, table.FileBytesHeld);

            // Placed: the file leaves memory with the placement, and room is made for another.
            Assert.Same(jobs[0].Record.Content, table.TakeContentLocked(jobs[0]));
            Assert.Null(table.TakeContentLocked(jobs[0]));
            table.TryHoldContentLocked(jobs[2], jobs[2].Record.Content);
            Assert.NotNull(jobs[2].Content);

            // Gone (done, dead or cancelled): its file leaves memory too.
            table.RemoveLocked(jobs[1], finished: true);
            Assert.Null(jobs[1].Content);
            Assert.Equal(4, table.FileBytesHeld);
        }
    }

    [Fact]
    public void Jobs_with_the_same_file_share_one_array_counted_once_until_the_last_of_them_is_placed()
    {
        var table = new JobTable(new HubOptions { TimeProvider = new FakeTimeProvider(Start) }, contentBudget: 10);

        // Three submissions of one 8-byte file (each with its own copy, as three requests bring it) and one other file.
        var same = Enumerable.Range(0, 3).Select(_ => Active(table, MakeJob(content: "same 8 b"u8.ToArray()))).ToList();
        var other = Active(table, MakeJob(content: "other 8b"u8.ToArray()));
        lock (table.Lock)
        {
            foreach (var job in same.Append(other))
            {
                table.AddSubmittedLocked(job);
                table.TryHoldContentLocked(job, job.Record.Content);
            }

            Assert.All(same, job => Assert.Same(same[0].Record.Content, job.Content));
            Assert.Null(other.Content); // 8 + 8 is over the 10 bytes
            Assert.Equal(8, table.FileBytesHeld);

            Assert.Same(same[0].Record.Content, table.TakeContentLocked(same[0]));
            table.RemoveLocked(same[1], finished: true);
            Assert.Equal(8, table.FileBytesHeld); // same[2] still holds it
            Assert.Same(same[0].Record.Content, table.TakeContentLocked(same[2]));
            Assert.Equal(0, table.FileBytesHeld);
            table.TryHoldContentLocked(other, other.Record.Content);
            Assert.Equal(8, table.FileBytesHeld);
        }
    }

    [Fact]
    public void The_table_refuses_a_submission_over_the_byte_limit()
    {
        var table = new JobTable(new HubOptions { MaxQueuedBytes = 100, TimeProvider = new FakeTimeProvider(Start) });

        table.Reserve(1, 100, "");
        var full = Assert.Throws<JobQueueFullException>(() => table.Reserve(1, 1, ""));
        Assert.Contains("this request adds 1 jobs (1 bytes)", full.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Finished_jobs_leave_the_table_once_and_set_the_finish_rate_behind_the_retry_after()
    {
        var time = new FakeTimeProvider(Start);
        var table = new JobTable(new HubOptions { MaxQueuedJobs = 10, TimeProvider = time });
        var jobs = Enumerable.Range(0, 10).Select(_ => Active(table, MakeJob(content: new byte[4]))).ToList();
        lock (table.Lock)
        {
            foreach (var job in jobs)
            {
                table.AddLoadedLocked(job);
            }
        }

        Assert.Equal(10, table.Count);
        Assert.Throws<JobQueueFullException>(() => table.Reserve(1, 4, ""));
        lock (table.Lock)
        {
            foreach (var job in jobs.Take(5))
            {
                table.RemoveLocked(job, finished: true);
                table.RemoveLocked(job, finished: true); // already gone: no change
            }

            table.RemoveLocked(jobs[5], finished: false); // cancelled: not counted as finished
        }

        Assert.Equal(4, table.Count);
        Assert.Equal(5, table.FinishedTotal);
        Assert.Equal(JobPhase.Gone, jobs[0].Phase);
        Assert.Equal(0.5, table.FinishedPerSecond); // 5 in the 10-second window

        // 4 held; 8 more asked: 2 over the limit of 10 at 0.5 finished per second is 4 s.
        var full = Assert.Throws<JobQueueFullException>(() => table.Reserve(8, 32, ""));
        Assert.Equal(TimeSpan.FromSeconds(4), full.RetryAfter);

        time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(0, table.FinishedPerSecond); // out of the window
    }

    [Fact]
    public void A_target_queue_gives_the_highest_priority_first_then_submission_order_and_skips_stale_entries()
    {
        var table = new JobTable(new HubOptions { TimeProvider = new FakeTimeProvider(Start) });
        var queues = new TargetQueues();
        var low = Active(table, MakeJob(priority: 0));
        var high = Active(table, MakeJob(priority: 5));
        var mid1 = Active(table, MakeJob(priority: 2));
        var mid2 = Active(table, MakeJob(priority: 2));
        var other = Active(table, MakeJob(target: "label:site=mars"));
        lock (table.Lock)
        {
            foreach (var job in new[] { low, high, mid1, mid2, other })
            {
                queues.EnqueueLocked(job, Start.UtcTicks);
            }

            // Queued again (a requeue): its first entry is stale, the new one keeps its place by order.
            queues.EnqueueLocked(high, Start.UtcTicks + 1);
            Assert.Equal(2, queues.AllLocked.Count);

            var random = queues.AllLocked.Single(q => q.Key == "random");
            Assert.Equal(5, random.Jobs.Count);
            var order = new List<ActiveJob>();
            while (random.TryPeek(out var head, out _))
            {
                order.Add(head);
                random.Jobs.Dequeue();
            }

            Assert.Equal([high, mid1, mid2, low], order);
            Assert.Equal(0, random.Jobs.Count); // the stale entry was dropped on the way

            // A job that left the queue (placed, cancelled) is stale in it too.
            var mars = queues.AllLocked.Single(q => q.Key == "label:site=mars");
            other.Phase = JobPhase.Leasing;
            Assert.False(mars.TryPeek(out _, out _));

            queues.RemoveIfEmptyLocked("random");
            queues.RemoveIfEmptyLocked("label:site=mars");
            Assert.Empty(queues.AllLocked);
        }
    }
}
