using System.Security.Cryptography;
using Drover.Api;
using Microsoft.Extensions.Logging;

namespace Drover.Hub.Security;

/// <summary>The admin tokens a hub has from its start, so that its operators can get in before anyone has made a token:
/// the provisioned one (<see cref="HubOptions.AdminToken"/>) and the bootstrap one in a file
/// (<see cref="HubOptions.AdminTokenFile"/>), like Jupyter's token file or k3s's admin kubeconfig. Whoever can read the
/// file is the hub's admin: it is written mode 0600 in the data directory, which holds the hub's keys anyway.</summary>
internal static class AdminTokenSetup
{
    public const string BootstrapName = "bootstrap";
    public const string ProvisionedName = "provisioned";
    public const string Hub = "hub";

    public static async Task ApplyAsync(HubOptions options, ApiTokens tokens, ILogger logger, CancellationToken cancellationToken)
    {
        if (options.AdminToken is { } provisioned)
        {
            await ProvisionAsync(provisioned, tokens, logger, cancellationToken).ConfigureAwait(false);
        }

        if (options.AdminTokenFile is { } path)
        {
            await BootstrapAsync(path, tokens, cancellationToken).ConfigureAwait(false);
            Log.AdminTokenFile(logger, path);
        }
    }

    /// <summary>Stores the provisioned token when it is new. A revoked one stays revoked (the configuration is then stale).</summary>
    private static async Task ProvisionAsync(string text, ApiTokens tokens, ILogger logger, CancellationToken cancellationToken)
    {
        if (!ApiTokenText.TryParse(text, out var id, out var secret))
        {
            throw new ArgumentException("the configured admin token is not a Drover API token", nameof(text));
        }

        switch (tokens.Find(id))
        {
            case null:
                await tokens.AddAsync(text, ApiScope.Admin, ProvisionedName, lifetime: null, Hub, cancellationToken).ConfigureAwait(false);
                break;
            case { RevokedAt: not null }:
                Log.ProvisionedTokenRevoked(logger, id);
                break;
            case var stored when !CryptographicOperations.FixedTimeEquals(stored.SecretHash, ApiTokenText.HashSecret(secret)):
                throw new InvalidOperationException($"the configured admin token's id {id} belongs to another stored token: generate a new one");
            default:
                break;
        }
    }

    /// <summary>Keeps the file's token valid: stores it when the store lacks it (a new database beside an old file), makes a
    /// new one (revoking every earlier bootstrap token) when the file is missing, unreadable, or its token revoked.</summary>
    private static async Task BootstrapAsync(string path, ApiTokens tokens, CancellationToken cancellationToken)
    {
        var text = File.Exists(path) ? (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim() : null;
        if (ApiTokenText.TryParse(text, out var id, out var secret))
        {
            var stored = tokens.Find(id);
            if (stored is null)
            {
                await tokens.AddAsync(text, ApiScope.Admin, BootstrapName, lifetime: null, Hub, cancellationToken).ConfigureAwait(false);
                return;
            }

            if (tokens.IsActive(stored) && CryptographicOperations.FixedTimeEquals(stored.SecretHash, ApiTokenText.HashSecret(secret)))
            {
                return;
            }
        }

        foreach (var old in tokens.List().Where(token => token is { Name: BootstrapName, CreatedBy: Hub, RevokedAt: null }))
        {
            await tokens.RevokeAsync(old.Id, cancellationToken).ConfigureAwait(false);
        }

        var (_, fresh) = await tokens.CreateAsync(ApiScope.Admin, BootstrapName, lifetime: null, Hub, cancellationToken).ConfigureAwait(false);
        PemFiles.Write(path, fresh, secret: true);
    }
}
