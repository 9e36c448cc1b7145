using System.CommandLine;
using System.Text.Json;
using Drover.Api;
using Spectre.Console;

namespace Drover.Cli.Commands;

/// <summary><c>drover tokens create|list|revoke|generate</c> and <c>drover audit</c>: the operator's side of API access
/// (docs/security.md). All but <c>generate</c> go through the API and need an admin token.</summary>
internal static class AccessCommands
{
    private static readonly string[] Scopes = ["read", "submit", "admin", "join"];

    public static Command CreateTokens()
    {
        var command = new Command("tokens", "Make, list and revoke the HTTP API's tokens (admin scope)") { Create(), List(), Revoke(), Generate() };
        return command;
    }

    private static Command Create()
    {
        var scope = new Option<string?>("--scope") { Description = "An API token's scope: read (every GET), submit (also send and cancel jobs) or admin (also tokens, agents' credentials and the audit log); join is the same as --join" };
        var join = new Option<bool>("--join") { Description = "Make a join token: an agent presents it once (drover agent --token) to enroll its own key" };
        var name = new Option<string?>("--name") { Description = "What the token is for (shown in listings and the audit log)" };
        var ttl = new Option<string?>("--ttl") { Description = "How long it works: 12h, 90d (default: an API token until revoked, a join token 24h)" };
        var uses = new Option<int?>("--uses") { Description = "A join token (implied when no --scope is given): how many agents it may enroll (default: no limit)" };
        var labels = new Option<string[]>("--labels") { Description = "A join token: labels NAME=VALUE every agent it enrolls gets, overriding the agent's own (repeat, or separate with commas)", AllowMultipleArgumentsPerToken = true };
        var hold = new Option<bool>("--hold") { Description = "A join token: each agent it enrolls waits for an operator (drover agents pending, approve, reject) instead of being let in at once" };
        var json = new Option<bool>("--json") { Description = "Print the token as JSON" };
        var api = new ApiAccess();
        var command = new Command("create", "Make a token and print it (once: the hub keeps only its hash)") { scope, join, name, ttl, uses, labels, hold, json };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            // --uses, --labels or --hold without a scope ask for a join token, as `drover tokens create --ttl 1h --uses 100` reads.
            var joinTerms = parse.GetValue(uses) is not null || (parse.GetValue(labels)?.Length ?? 0) > 0 || parse.GetValue(hold);
            var scopeValue = parse.GetValue(join) || (joinTerms && parse.GetValue(scope) is null) ? "join" : parse.GetValue(scope);
            if (scopeValue is null || !Scopes.Contains(scopeValue))
            {
                return CliParsing.Fail(scopeValue is null ? "--scope (read, submit or admin) or --join is required" : $"--scope: '{scopeValue}' is not one of {string.Join(", ", Scopes)}");
            }

            if (!CliParsing.TryParseLabels(string.Join(',', parse.GetValue(labels) ?? []), out var parsedLabels, out var labelError))
            {
                return CliParsing.Fail($"--labels: {labelError}");
            }

            var labelList = parsedLabels.Select(label => $"{label.Key}={label.Value}").ToList();
            var isJoin = scopeValue == "join";
            if (!isJoin && (parse.GetValue(uses) is not null || labelList.Count > 0 || parse.GetValue(hold)))
            {
                return CliParsing.Fail("--uses, --labels and --hold are for join tokens (--join)");
            }

            if (parse.GetValue(uses) is < 1)
            {
                return CliParsing.Fail("--uses must be at least 1");
            }

            var terms = isJoin ? new JoinTokenTerms(parse.GetValue(uses), labelList, parse.GetValue(hold)) : null;
            return await HubApiClient.RunAsync(api, parse, async client =>
            {
                var created = await client.CreateTokenAsync(scopeValue, parse.GetValue(name) ?? string.Empty, parse.GetValue(ttl), cancellationToken, terms);
                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(created, ApiJsonContext.Default.TokenCreated));
                }
                else
                {
                    Console.Out.WriteLine(created.Secret);
                    await Console.Error.WriteLineAsync($"token {created.Token.Id}, scope {created.Token.Scope}{(created.Token.ExpiresAt is { } at ? $", expires {at:u}" : string.Empty)}: keep it secret; it is not shown again");
                }

                return ExitCodes.Ok;
            });
        });
        return command;
    }

    private static Command List()
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array" };
        var api = new ApiAccess();
        var command = new Command("list", "List tokens (never their secrets)") { json };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) => await HubApiClient.RunAsync(api, parse, async client =>
        {
            var tokens = await client.ListTokensAsync(cancellationToken);
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(tokens, ApiJsonContext.Default.TokenList));
                return ExitCodes.Ok;
            }

            var table = new CliTable("id", "scope", "name", "created", "by", "expires", "uses left", "state").Wrap(1).Wrap(2);
            foreach (var token in tokens.Items)
            {
                var state = token.Active ? "active" : token.RevokedAt is not null ? "revoked" : token.UsesLeft is 0 ? "used up" : "expired";
                var scopeText = token.Kind == "join" ? $"join ({token.Approval}{(token.Labels is { Count: > 0 } l ? ", " + string.Join(",", l.Select(p => $"{p.Key}={p.Value}")) : string.Empty)})" : token.Scope;
                table.AddRow(token.Id, scopeText, token.Name, $"{token.CreatedAt:u}", token.CreatedBy, token.ExpiresAt is { } at ? $"{at:u}" : "-",
                    token.UsesLeft?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-", state);
            }

            table.Write();
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Revoke()
    {
        var id = new Argument<string>("ID") { Description = "The token's id (the 12 characters after drover_)" };
        var api = new ApiAccess();
        var command = new Command("revoke", "Revoke a token: requests with it are refused from now on") { id };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) => await HubApiClient.RunAsync(api, parse, async client =>
        {
            var token = await client.RevokeTokenAsync(parse.GetValue(id)!, cancellationToken);
            Console.Out.WriteLine($"revoked {token.Id} ({token.Scope}{(token.Name.Length > 0 ? ", " + token.Name : string.Empty)})");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Command Generate()
    {
        var command = new Command("generate", "Print a new random token without asking any hub: for drover serve --admin-token (DROVER_ADMIN_TOKEN) in provisioning");
        command.SetAction(_ =>
        {
            Console.Out.WriteLine(ApiTokenText.Generate());
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary><c>drover agents pending|credentials|approve|reject|revoke|forget-key</c>: agents' credentials (admin).</summary>
    public static Command CreateAgents() => AgentCredentialCommands.Create();

    /// <summary><c>drover audit</c>: who submitted, cancelled, made and revoked what, and when.</summary>
    public static Command CreateAudit()
    {
        var after = new Option<string?>("--cursor") { Description = "Continue where a previous listing stopped (the cursor it printed)" };
        var since = new Option<DateTimeOffset?>("--since") { Description = "Only entries recorded at or after this time (ISO 8601)" };
        var limit = new Option<int>("--limit") { Description = "Show at most this many entries", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "Print a JSON array" };
        var api = new ApiAccess();
        var command = new Command("audit", "Show the audit log, oldest first (admin scope)") { after, since, limit, json };
        api.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var max = parse.GetValue(limit);
            if (max is < 1 or > 1000)
            {
                return CliParsing.Fail("--limit must be between 1 and 1000");
            }

            return await HubApiClient.RunAsync(api, parse, async client =>
            {
                var page = await client.ReadAuditAsync(parse.GetValue(after), parse.GetValue(since), max, cancellationToken);
                if (parse.GetValue(json))
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize([.. page.Items], ApiJsonContext.Default.ListAuditEntryView));
                    return ExitCodes.Ok;
                }

                foreach (var entry in page.Items)
                {
                    Console.Out.WriteLine($"{entry.Id,6} {entry.At:u} {entry.Actor} from {entry.Source}: {entry.Action} {entry.Target} {entry.Detail}");
                }

                if (page.Next is { } next)
                {
                    await Console.Error.WriteLineAsync($"more: --cursor {next}");
                }

                return ExitCodes.Ok;
            });
        });
        return command;
    }
}
