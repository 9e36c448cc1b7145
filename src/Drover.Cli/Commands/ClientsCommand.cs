using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Hub.Api;
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
        var api = ApiOption.Create();

        var command = new Command("clients", "List agents with their state, last contact, labels and latest status") { state, label, json, api };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!ApiOption.TryGetClient(parse.GetValue(api), out var http, out var error))
            {
                return CliParsing.Fail(error);
            }

            using (http)
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
                            query.Add($"after={Uri.EscapeDataString(after)}");
                        }

                        using var response = await http.GetAsync(new Uri("api/agents?" + string.Join('&', query), UriKind.Relative), cancellationToken);
                        if (!response.IsSuccessStatusCode)
                        {
                            var problem = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ApiError, cancellationToken);
                            return CliParsing.Fail($"the hub answered {(int)response.StatusCode}: {problem?.Error}");
                        }

                        var page = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.AgentPage, cancellationToken)
                            ?? throw new JsonException("empty answer");
                        agents.AddRange(page.Items);
                        after = page.Next;
                    }
                    while (after is not null);
                }
                catch (HttpRequestException ex)
                {
                    Console.Error.WriteLine($"drover: cannot reach the hub API at {http.BaseAddress}: {ex.Message}");
                    return 1;
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
        var table = new Table().AddColumns("id", "state", "last seen", "labels", "status");
        var now = DateTimeOffset.UtcNow;
        foreach (var agent in agents)
        {
            var color = agent.State switch { "online" => "green", "late" => "yellow", "lost" => "red", _ => "grey" };
            var status = agent.Status is null
                ? "-"
                : $"{agent.Status.State} #{agent.Status.Seq}" + string.Concat(agent.Status.Fields.Take(4).Select(f => $" {f.Key}={f.Value}"));
            table.AddRow(
                Markup.Escape(agent.Id),
                $"[{color}]{agent.State}[/]",
                $"{(now - agent.LastSeen).TotalSeconds:0}s ago",
                Markup.Escape(string.Join(',', agent.Labels.Select(l => $"{l.Key}={l.Value}"))),
                Markup.Escape(status));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"{agents.Count} agents");
    }
}

/// <summary>The <c>--api URL</c> option shared by the operator commands.</summary>
internal static class ApiOption
{
    public static Option<string?> Create() => new("--api") { Description = "The hub's HTTP API (default: $DROVER_API or http://127.0.0.1:7401)" };

    public static bool TryGetClient(string? value, out HttpClient client, out string error)
    {
        var text = value ?? Environment.GetEnvironmentVariable("DROVER_API") ?? "http://127.0.0.1:7401";
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            client = null!;
            error = $"--api: '{text}' is not an http:// URL";
            return false;
        }

        client = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(30) };
        error = string.Empty;
        return true;
    }
}
