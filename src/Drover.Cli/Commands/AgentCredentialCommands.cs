using System.CommandLine;
using System.Text.Json;
using Drover.Api;
using Spectre.Console;

namespace Drover.Cli.Commands;

/// <summary><c>drover agents pending|credentials|approve|reject|revoke|forget-key</c>: the operator's side of agent
/// enrollment (docs/security.md, "Agent credentials"), through the API with an admin token.</summary>
internal static class AgentCredentialCommands
{
    public static Command Create() => new("agents", "Manage agents' credentials: enrollments waiting for approval, approval, revocation (admin scope)")
    {
        List("pending", "List the agents that enrolled with a --hold join token and wait for an operator", "pending"),
        List("credentials", "List every agent credential (enrolled or bound on first use) and its state", state: null),
        Decide("approve", "approve", "Let a pending agent in: its next hello (within 10 s) is welcomed", "approved"),
        Decide("reject", "reject", "Refuse a pending agent for good (forget-key lets it enroll again)", "rejected"),
        Decide("revoke", "revoke", "Withdraw an agent's credential: its session is closed at once and its hellos are refused from now on", "revoked"),
        ForgetKey(),
    };

    private static Command List(string name, string description, string? state)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var stateFilter = new Option<string?>("--state") { Description = "Only credentials in this state: pending, approved, rejected or revoked" };
        var api = new ApiAccess();
        var command = new Command(name, description) { json };
        if (state is null)
        {
            command.Options.Add(stateFilter);
        }

        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) => await HubApiClient.RunAsync(api, parse, async client =>
        {
            var list = await client.ListAgentCredentialsAsync(state ?? parse.GetValue(stateFilter), cancellationToken);
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(list, ApiJsonContext.Default.AgentCredentialList));
                return ExitCodes.Ok;
            }

            if (list.Items.Count == 0)
            {
                Console.Out.WriteLine(state == "pending" ? "no agent waits for approval" : "no agent credentials");
                return ExitCodes.Ok;
            }

            var table = new CliTable("agent", "state", "since", "from", "join token", "labels", "connected").Wrap(5);
            foreach (var item in list.Items)
            {
                var labels = item.Labels is { Count: > 0 } l ? string.Join(",", l.Select(p => $"{p.Key}={p.Value}")) : "-";
                table.AddRow(item.AgentId, item.State, $"{item.ChangedAt ?? item.BoundAt:u}", item.BoundFrom, item.TokenId ?? "(first use)", labels, item.Connected ? "yes" : "no");
            }

            table.Write();
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Decide(string name, string decision, string description, string done)
    {
        var id = new Argument<string>("ID") { Description = "The agent id" };
        var api = new ApiAccess();
        var command = new Command(name, description) { id };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) => await HubApiClient.RunAsync(api, parse, async client =>
        {
            var credential = await client.DecideAgentAsync(parse.GetValue(id)!, decision, cancellationToken);
            Console.Out.WriteLine($"agent {credential.AgentId}: {done}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command ForgetKey()
    {
        var id = new Argument<string>("ID") { Description = "The agent id" };
        var api = new ApiAccess();
        var forget = new Command("forget-key", "Forget the agent key an id is bound to (and its credential's state), so that the id can enroll or bind again: an agent that lost its state directory, an id that moved to another machine, a revoked agent let back") { id };
        api.AddTo(forget);
        forget.SetAction(async (parse, cancellationToken) => await HubApiClient.RunAsync(api, parse, async client =>
        {
            await client.ForgetAgentKeyAsync(parse.GetValue(id)!, cancellationToken);
            Console.Out.WriteLine($"agent {parse.GetValue(id)} is no longer bound to a key");
            return ExitCodes.Ok;
        }));
        return forget;
    }
}
