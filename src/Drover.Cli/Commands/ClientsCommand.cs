using System.CommandLine;
using System.Text.Json;
using Drover.Api;
using Spectre.Console;

namespace Drover.Cli.Commands;

/// <summary><c>drover clients</c>: the list of agents and their status, from the hub's HTTP API.</summary>
internal static class ClientsCommand
{
    public static Command Create()
    {
        var state = new Option<string?>("--state") { Description = "Only agents in this state: online, late, lost, stale, retired" };
        var label = new Option<string[]>("--label") { Description = "Only agents with this label (k=v); repeatable" };
        var json = new Option<bool>("--json") { Description = "Print a JSON array instead of a table" };
        var api = new ApiAccess();

        var command = new Command("clients", "List agents with their state, last contact, labels and latest status") { state, label, json };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!HubApiClient.TryCreate(api, parse, out var client, out var error))
            {
                return CliParsing.Fail(error);
            }

            using (client)
            {
                var agents = new List<AgentView>();
                string? after = null;
                try
                {
                    do
                    {
                        var query = new List<string> { "limit=1000" };
                        if (parse.GetValue(state) is { Length: > 0 } s)
                        {
                            query.Add($"state={Uri.EscapeDataString(s)}");
                        }

                        query.AddRange((parse.GetValue(label) ?? []).Select(l => $"label={Uri.EscapeDataString(l)}"));
                        if (after is not null)
                        {
                            query.Add($"cursor={Uri.EscapeDataString(after)}");
                        }

                        var page = await client.ListAgentsAsync(query, cancellationToken);
                        agents.AddRange(page.Items);
                        after = page.Next;
                    }
                    while (after is not null);
                }
                catch (HubApiException ex)
                {
                    // Kept as before the job commands: 1 when the hub is not there, 2 when it answered an error.
                    Console.Error.WriteLine($"drover: {ex.Message}");
                    return ex.StatusCode is null ? 1 : 2;
                }

                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(agents, ApiJsonContext.Default.ListAgentView));
                    return 0;
                }

                RenderTable(agents);
                return 0;
            }
        });
        return command;
    }

    private static void RenderTable(List<AgentView> agents)
    {
        var table = new CliTable("id", "state", "last seen", "jobs", "labels", "status").Wrap(4).Wrap(5);
        var now = DateTimeOffset.UtcNow;
        foreach (var agent in agents)
        {
            var color = agent.State switch { "online" => "green", "late" => "yellow", "lost" => "red", _ => "grey" };
            var status = agent.Status is null
                ? "-"
                : $"{agent.Status.State} #{agent.Status.Seq}" + string.Concat(agent.Status.Fields.Take(4).Select(f => $" {f.Key}={f.Value}"));
            table.AddRow(
                agent.Id,
                new CliCell(agent.State, color),
                $"{(now - agent.LastSeen).TotalSeconds:0}s ago",
                agent.JobSlots > 0 ? $"{agent.JobsInFlight}/{agent.JobSlots}" : "-",
                agent.Labels.Count > 0 ? string.Join(',', agent.Labels.Select(l => $"{l.Key}={l.Value}")) : "-",
                status);
        }

        table.Write();
        Console.Out.WriteLine($"{agents.Count} agents");
    }
}
