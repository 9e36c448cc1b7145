using System.Net;
using Drover.Agent;
using Drover.Cli.Configuration;
using Drover.Cli.Hosting;
using Drover.Hub;
using Drover.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Drover.Cli.Tests;

/// <summary>The settings catalogs in-process: precedence, lists, errors, and docs/configuration.md generated from them.</summary>
public sealed class ConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("drover-config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteJson(string json)
    {
        var path = Path.Combine(_dir, "drover.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static bool TryLoad<T>(SettingsCatalog<T> catalog, string? file, Dictionary<string, string?> environment, Dictionary<string, string?> flags, out T options, out string error)
        where T : new()
    {
        var loaded = TryLoadSettings(catalog, file, environment, flags, out error);
        options = loaded is null ? new T() : loaded.Options;
        return loaded is not null;
    }

    private static LoadedSettings<T>? TryLoadSettings<T>(SettingsCatalog<T> catalog, string? file, Dictionary<string, string?> environment, Dictionary<string, string?> flags, out string error)
        where T : new() =>
        ConfigurationSources.TryBuild(file, environment, flags, out var sources, out error) && catalog.TryLoad(sources, out var loaded, out error) ? loaded : null;

    /// <summary>The options of <paramref name="value"/> through the Options pattern as the hosts register them
    /// (<see cref="CommandHost.AddValidatedOptions"/>): the failures of the host's start, or none.</summary>
    private static IReadOnlyList<string> ValidateAsTheHostDoes<TOptions>(TOptions value, IValidateOptions<TOptions> validator)
        where TOptions : class
    {
        var services = new ServiceCollection();
        CommandHost.AddValidatedOptions(services, value, validator);
        using var provider = services.BuildServiceProvider();
        try
        {
            provider.GetRequiredService<IStartupValidator>().Validate();
            Assert.Same(value, provider.GetRequiredService<IOptions<TOptions>>().Value);
            return [];
        }
        catch (OptionsValidationException ex)
        {
            return [.. ex.Failures];
        }
    }

    [Fact]
    public void Docs_configuration_md_lists_every_setting_as_the_catalogs_say()
    {
        var path = TestPaths.RepositoryFile("docs", "configuration.md");
        var page = File.ReadAllText(path).ReplaceLineEndings("\n");
        var begin = page.IndexOf(ConfigurationDoc.Begin, StringComparison.Ordinal);
        var end = page.IndexOf(ConfigurationDoc.End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, $"docs/configuration.md has lost its markers {ConfigurationDoc.Begin} ... {ConfigurationDoc.End}");
        var current = page[begin..(end + ConfigurationDoc.End.Length + 1)];
        var expected = ConfigurationDoc.Render();
        if (current != expected && Environment.GetEnvironmentVariable("DROVER_UPDATE_DOCS") == "1")
        {
            File.WriteAllText(path, page[..begin] + expected + page[(end + ConfigurationDoc.End.Length + 1)..]);
            return;
        }

        Assert.True(current == expected, $"docs/configuration.md differs from the catalogs (DROVER_UPDATE_DOCS=1 dotnet test --filter Docs_configuration rewrites it). Expected:\n{expected}");
    }

    [Fact]
    public void Defaults_are_those_of_a_default_constructed_options_record()
    {
        Assert.True(TryLoad(ServeSettings.Catalog, null, [], [], out var serve, out var error), error);
        var defaults = new HubOptions();
        Assert.Equal(defaults.HttpEndPoint, serve.Hub.HttpEndPoint);
        Assert.Equal(defaults.ReportInterval, serve.Hub.ReportInterval);
        Assert.Equal(defaults.KeepFinishedJobs, serve.Hub.KeepFinishedJobs);
        Assert.Equal("1000", ServeSettings.Catalog.Settings.Single(s => s.Name == "max-reports-per-second").DefaultText(new ServeConfig()));
    }

    [Fact]
    public void The_sources_exempt_from_the_connection_rate_are_ranges_or_addresses_and_none_clears_the_loopback_default()
    {
        Assert.True(TryLoad(ServeSettings.Catalog, null, [], [], out var defaults, out var error), error);
        Assert.Equal(["127.0.0.0/8", "::1/128"], defaults.Hub.ConnectionRateExempt.Select(n => n.ToString()));

        Assert.True(TryLoad(ServeSettings.Catalog, null, new() { ["hub:connection-rate-exempt"] = "10.1.0.0/16, fd00::/8,192.0.2.7" }, [], out var listed, out error), error);
        Assert.Equal(["10.1.0.0/16", "fd00::/8", "192.0.2.7/32"], listed.Hub.ConnectionRateExempt.Select(n => n.ToString()));

        Assert.True(TryLoad(ServeSettings.Catalog, null, [], new() { ["hub:connection-rate-exempt:0"] = "none" }, out var none, out error), error);
        Assert.Empty(none.Hub.ConnectionRateExempt);

        Assert.False(TryLoad(ServeSettings.Catalog, null, [], new() { ["hub:connection-rate-exempt:0"] = "10.1.0.0/99" }, out _, out error));
        Assert.Contains("'10.1.0.0/99' is not an address range", error, StringComparison.Ordinal);

        // 0 turns the rate, the wrong-token blocks and the flapping detection off; a negative rate is refused at start.
        Assert.True(TryLoad(ServeSettings.Catalog, null, [], new() { ["hub:connection-rate"] = "0", ["hub:auth-penalty-max"] = "0s", ["hub:flap-max-reconnects"] = "0" }, out var off, out error), error);
        Assert.Empty(off.Hub.GetValidationErrors());
        Assert.Contains(new HubOptions { ConnectionRatePerSource = -1 }.GetValidationErrors(), e => e.MemberNames.Contains(nameof(HubOptions.ConnectionRatePerSource)));
    }

    [Fact]
    public void A_flag_beats_the_environment_which_beats_the_file()
    {
        var file = WriteJson("""{"hub": {"http": "127.0.0.1:9101", "interval": "5s", "max-agents": 7, "late-grace": "3s"}}""");
        Dictionary<string, string?> environment = new() { ["hub:http"] = "127.0.0.1:9102", ["hub:interval"] = "6s" };
        Dictionary<string, string?> flags = new() { ["hub:http"] = "127.0.0.1:9103" };

        Assert.True(TryLoad(ServeSettings.Catalog, file, environment, flags, out var config, out var error), error);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 9103), config.Hub.HttpEndPoint);
        Assert.Equal(TimeSpan.FromSeconds(6), config.Hub.ReportInterval);
        Assert.Equal(7, config.Hub.MaxAgents);
        Assert.Equal(TimeSpan.FromSeconds(3), config.Hub.LateGrace);
    }

    [Fact]
    public void A_list_comes_whole_from_the_strongest_place_that_has_it()
    {
        var file = WriteJson("""{"agent": {"hub": ["10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"], "insecure": true}}""");
        Assert.True(TryLoad(AgentSettings.Catalog, file, [], [], out var fromFile, out var error), error);
        Assert.Equal(["10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"], fromFile.Agent.Hubs);

        Dictionary<string, string?> environment = new() { ["agent:hub"] = "10.0.1.1:7400,10.0.1.2:7400" };
        Assert.True(TryLoad(AgentSettings.Catalog, file, environment, [], out var fromEnvironment, out error), error);
        Assert.Equal(["10.0.1.1:7400", "10.0.1.2:7400"], fromEnvironment.Agent.Hubs);

        Dictionary<string, string?> flags = new() { ["agent:hub:0"] = "10.0.2.1:7400" };
        Assert.True(TryLoad(AgentSettings.Catalog, file, environment, flags, out var fromFlags, out error), error);
        Assert.Equal(["10.0.2.1:7400"], fromFlags.Agent.Hubs);
    }

    [Fact]
    public void A_rule_across_settings_is_checked_at_the_hosts_start_and_names_the_setting_given()
    {
        Dictionary<string, string?> flags = new() { ["hub:stale-after"] = "8d" };
        var loaded = TryLoadSettings(ServeSettings.Catalog, null, [], flags, out var error);
        Assert.True(loaded is not null, error); // the catalog parses values; the options' rules run when the host starts

        var failure = Assert.Single(ValidateAsTheHostDoes(loaded.Options.Hub, ServeSettings.Validator(loaded)));
        Assert.StartsWith("--stale-after 8d: retire age must be longer than the stale age", failure, StringComparison.Ordinal);
        Assert.Contains("DROVER_STALE_AFTER", failure, StringComparison.Ordinal);
        Assert.Contains("hub.stale-after", failure, StringComparison.Ordinal);
        Assert.Contains("setting retire-after: --retire-after, DROVER_RETIRE_AFTER or hub.retire-after", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void A_rule_across_settings_names_every_setting_given_as_it_was_given()
    {
        var file = WriteJson("""{"hub": {"max-file-size": "4MiB"}}""");
        Dictionary<string, string?> environment = new() { ["hub:max-queued-bytes"] = "1MiB" };
        var loaded = TryLoadSettings(ServeSettings.Catalog, file, environment, [], out var error);
        Assert.True(loaded is not null, error);

        var failure = Assert.Single(ValidateAsTheHostDoes(loaded.Options.Hub, ServeSettings.Validator(loaded)));
        Assert.StartsWith($"DROVER_MAX_QUEUED_BYTES=1MiB and hub.max-file-size=4MiB in {file}: max queued bytes (1048576) must be at least the max file size (4194304)", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_broken_rule_is_a_failure_and_valid_options_pass()
    {
        Dictionary<string, string?> flags = new() { ["hub:stale-after"] = "8d", ["hub:max-frame-size"] = "10", ["hub:max-queued-jobs"] = "0" };
        var loaded = TryLoadSettings(ServeSettings.Catalog, null, [], flags, out var error)!;
        var failures = ValidateAsTheHostDoes(loaded.Options.Hub, ServeSettings.Validator(loaded));
        Assert.Equal(3, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("--max-frame-size 10: max frame size must be between 1 KiB and 16 MiB", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--max-queued-jobs 0: max queued jobs must be at least 1", StringComparison.Ordinal));

        loaded = TryLoadSettings(ServeSettings.Catalog, null, [], [], out error)!;
        Assert.Empty(ValidateAsTheHostDoes(loaded.Options.Hub, ServeSettings.Validator(loaded)));
    }

    [Fact]
    public void The_agents_rules_run_through_its_validator_and_a_setting_left_at_its_default_is_named_by_its_flag()
    {
        var loaded = TryLoadSettings(AgentSettings.Catalog, null, [], new() { ["agent:insecure"] = "true" }, out var error);
        Assert.True(loaded is not null, error);
        var failure = Assert.Single(ValidateAsTheHostDoes(loaded.Options.Agent, AgentSettings.Validator(loaded)));
        Assert.StartsWith("--hub: at least one hub", failure, StringComparison.Ordinal);

        Dictionary<string, string?> flags = new() { ["agent:hub:0"] = "127.0.0.1:7400", ["agent:insecure"] = "true", ["agent:backoff-base"] = "10s", ["agent:backoff-cap"] = "1s" };
        loaded = TryLoadSettings(AgentSettings.Catalog, null, [], flags, out error)!;
        failure = Assert.Single(ValidateAsTheHostDoes(loaded.Options.Agent, AgentSettings.Validator(loaded)));
        Assert.StartsWith("--backoff-cap 1s and --backoff-base 10s: backoff cap", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, null, null, "say how to trust the hub: --ca FILE")]
    [InlineData("/etc/hub-ca.pem", null, "true", "--ca /etc/hub-ca.pem: --ca, --hub-fingerprint and --insecure are alternatives: give one")]
    [InlineData(null, "AB:CD", null, "--hub-fingerprint AB:CD: a SHA-256 fingerprint is 32 bytes")]
    [InlineData("/nonexistent/hub-ca.pem", null, null, "--ca /nonexistent/hub-ca.pem: cannot read the CA file '/nonexistent/hub-ca.pem'")]
    public void The_agent_must_say_how_it_trusts_the_hub(string? ca, string? fingerprint, string? insecure, string expected)
    {
        Dictionary<string, string?> flags = new() { ["agent:hub:0"] = "127.0.0.1:7400", ["agent:ca"] = ca, ["agent:hub-fingerprint"] = fingerprint, ["agent:insecure"] = insecure };
        foreach (var key in flags.Where(pair => pair.Value is null).Select(pair => pair.Key).ToList())
        {
            flags.Remove(key);
        }

        Assert.Null(TryLoadSettings(AgentSettings.Catalog, null, [], flags, out var error));
        Assert.StartsWith(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_trust_setting_makes_its_trust()
    {
        var fingerprint = string.Join(":", Enumerable.Repeat("AB", 32));
        Assert.True(TryLoad(AgentSettings.Catalog, null, [], new() { ["agent:hub:0"] = "h:1", ["agent:insecure"] = "true" }, out var insecure, out var error), error);
        Assert.True(insecure.Agent.Trust.IsInsecure);
        Assert.True(TryLoad(AgentSettings.Catalog, null, [], new() { ["agent:hub:0"] = "h:1", ["agent:ca"] = "system" }, out var system, out error), error);
        Assert.Same(HubTrust.SystemRoots, system.Agent.Trust);
        Assert.True(TryLoad(AgentSettings.Catalog, null, new() { ["agent:hub-fingerprint"] = fingerprint.ToLowerInvariant() }, new() { ["agent:hub:0"] = "h:1" }, out var pinned, out error), error);
        Assert.Equal($"the hub key {fingerprint}", pinned.Agent.Trust.Description);
    }

    [Theory]
    [InlineData("hub:tls-cert", "/etc/hub.pem", "--tls-cert /etc/hub.pem: --tls-cert and --tls-key go together")]
    [InlineData("hub:tls-name:0", "hub1.example", ": --insecure turns TLS off: it cannot go with --tls-cert, --tls-key or --tls-name")]
    public void Serves_TLS_settings_that_do_not_go_together_are_refused(string key, string value, string expected)
    {
        Dictionary<string, string?> flags = new() { [key] = value };
        if (key == "hub:tls-name:0")
        {
            flags["hub:insecure"] = "true";
        }

        Assert.Null(TryLoadSettings(ServeSettings.Catalog, null, [], flags, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_property_a_rule_can_name_maps_to_a_setting()
    {
        // Not settings (they are objects): the clock, the loggers, the status provider, the version string, and the TLS
        // objects that settings make (HubOptions.Tls from insecure/tls-cert/tls-key/tls-name, AgentOptions.Trust from
        // ca/hub-fingerprint/insecure: those have their own rules and tests), and what serve derives from other settings
        // (AdminTokenFile and UploadDirectory from data, ApiHostNames from tls-name and http-host; the agent key and its store from state-dir).
        string[] notSettings = [nameof(HubOptions.TimeProvider), nameof(AgentOptions.LoggerFactory), nameof(AgentOptions.Logger), nameof(AgentOptions.StatusProvider), nameof(AgentOptions.AgentVersion), nameof(HubOptions.Tls), nameof(AgentOptions.Trust), nameof(HubOptions.AdminTokenFile), nameof(HubOptions.UploadDirectory), nameof(HubOptions.ApiHostNames), nameof(AgentOptions.AgentKey), nameof(AgentOptions.KeyStore)];
        foreach (var property in typeof(HubOptions).GetProperties().Where(p => p.SetMethod is not null && !notSettings.Contains(p.Name)))
        {
            Assert.True(ServeSettings.Catalog.SettingOf(property.Name) is not null, $"HubOptions.{property.Name} has no setting");
        }

        foreach (var property in typeof(AgentOptions).GetProperties().Where(p => p.SetMethod is not null && !notSettings.Contains(p.Name)))
        {
            Assert.True(AgentSettings.Catalog.SettingOf(property.Name) is not null, $"AgentOptions.{property.Name} has no setting");
        }

        Assert.Equal("interval", ServeSettings.Catalog.SettingOf(nameof(HubOptions.ReportInterval))!.Name);
        Assert.Equal("max-queued-bytes", ServeSettings.Catalog.SettingOf(nameof(HubOptions.MaxQueuedBytes))!.Name);
        Assert.Equal("slots", AgentSettings.Catalog.SettingOf(nameof(AgentOptions.JobSlots))!.Name);
    }

    [Fact]
    public void An_unknown_key_in_the_file_is_refused_and_another_commands_section_is_ignored()
    {
        var file = WriteJson("""{"hub": {"intervall": "5s"}, "agent": {"whatever": 1}}""");
        Assert.False(TryLoad(ServeSettings.Catalog, file, [], [], out _, out var error));
        Assert.Contains("hub.intervall", error, StringComparison.Ordinal);

        file = WriteJson("""{"hub": {"interval": "5s"}, "agent": {"whatever": 1}}""");
        Assert.True(TryLoad(ServeSettings.Catalog, file, [], [], out var config, out error), error);
        Assert.Equal(TimeSpan.FromSeconds(5), config.Hub.ReportInterval);
    }

    [Fact]
    public void Every_settable_property_of_the_options_records_has_a_setting()
    {
        // Set every setting to a non-default value that is valid, and check that each one changed something.
        var values = new Dictionary<string, string>
        {
            ["listen"] = "127.0.0.1:1", ["http"] = "off", ["data"] = "/tmp/x", ["hub-id"] = "h", ["token"] = "t", ["open-agents"] = "true", ["agent-key-lifetime"] = "30d", ["interval"] = "30s",
            ["max-reports-per-second"] = "5", ["late-grace"] = "9s", ["missed-reports-for-lost"] = "4", ["stale-after"] = "2h",
            ["retire-after"] = "8d", ["handshake-timeout"] = "11s", ["sweep-interval"] = "2s", ["flush-interval"] = "3s", ["admit-rate"] = "6",
            ["max-agents"] = "9", ["max-connections"] = "1000", ["max-pending-handshakes"] = "50", ["listen-backlog"] = "100", ["history-per-agent"] = "5", ["keep-history"] = "2d", ["history-full-rate"] = "30m", ["keep-events"] = "3d", ["max-frame-size"] = "128KiB",
            ["max-status-fields"] = "10", ["max-file-size"] = "2MiB", ["max-result-size"] = "2MiB", ["max-queued-jobs"] = "10", ["max-queued-bytes"] = "2GiB", ["max-queued-bytes-per-token"] = "512MiB", ["keep-audit"] = "30d",
            ["lease-grace"] = "1s", ["disconnect-grace"] = "1s", ["keep-finished"] = "1h", ["log-level"] = "debug", ["log-format"] = "json",
            ["insecure"] = "true", ["tls-cert"] = "/tmp/hub.pem", ["tls-key"] = "/tmp/hub.key", ["tls-name"] = "hub1.example",
            ["http-host"] = "hub1.example", ["admin-token"] = HubFixture.AdminToken,
            ["connection-rate"] = "5", ["connection-burst"] = "6", ["connection-rate-exempt"] = "none", ["auth-failures-allowed"] = "3",
            ["auth-penalty-max"] = "1m", ["flap-max-reconnects"] = "4", ["flap-window"] = "2m", ["flap-ban"] = "1m",
        };
        Assert.Equal(values.Keys.Order(), ServeSettings.Catalog.Settings.Select(s => s.Name).Order());
        var defaults = new ServeConfig();
        foreach (var setting in ServeSettings.Catalog.Settings)
        {
            var (changed, error) = setting.Apply(defaults, [values[setting.Name]]);
            Assert.Null(error);
            Assert.NotEqual(defaults, changed);
        }

        // HubOptions: every init property but the clock, the TLS identity and what serve derives is a setting (by count; the
        // names differ from the properties). The CLI's own: data, log-level, log-format, insecure, tls-cert, tls-key, tls-name
        // (which make HubOptions.Tls at start) and http-host (with tls-name, HubOptions.ApiHostNames).
        string[] derived = [nameof(HubOptions.Tls), nameof(HubOptions.AdminTokenFile), nameof(HubOptions.UploadDirectory), nameof(HubOptions.ApiHostNames)];
        var hubProperties = typeof(HubOptions).GetProperties().Where(p => p.SetMethod is not null && p.PropertyType != typeof(TimeProvider) && !derived.Contains(p.Name)).ToList();
        Assert.Equal(hubProperties.Count, ServeSettings.Catalog.Settings.Count - 8);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Without_an_id_the_agent_takes_the_one_kept_in_its_state_directory()
    {
        var state = Path.Combine(_dir, "state");
        Dictionary<string, string?> environment = new() { ["agent:state-dir"] = state };
        Dictionary<string, string?> flags = new() { ["agent:hub"] = "127.0.0.1:7400", ["agent:insecure"] = "true" };
        Assert.True(TryLoad(AgentSettings.Catalog, null, environment, flags, out var config, out var error), error);
        Assert.Null(config.Id);
        Assert.False(Directory.Exists(state)); // checking the settings touches no disk

        var first = config.WithStoredId().Agent.AgentId;
        Assert.Equal(first + "\n", File.ReadAllText(Path.Combine(state, Drover.Agent.AgentIdentity.FileName)));
        Assert.Equal(first, config.WithStoredId().Agent.AgentId);
        Assert.Contains("agent-" + first, config.WithStoredId().Agent.WorkDirectory, StringComparison.Ordinal);

        // The agent key is kept there too, made once, readable by the agent's user only.
        var key = config.WithStoredId().Agent.KeyStore!.Current;
        Assert.Equal(43, key.Length);
        Assert.Equal(key, config.WithStoredId().Agent.KeyStore!.Current);
        Assert.Null(config.WithStoredId().Agent.KeyStore!.Pending);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(state, Drover.Agent.AgentIdentity.KeyFileName)));

        // A given id wins and writes no id file; the key is still the state directory's.
        var other = Path.Combine(_dir, "other");
        Dictionary<string, string?> withId = new() { ["agent:hub"] = "127.0.0.1:7400", ["agent:insecure"] = "true", ["agent:id"] = "given-01", ["agent:state-dir"] = other };
        Assert.True(TryLoad(AgentSettings.Catalog, null, [], withId, out var given, out error), error);
        Assert.Equal("given-01", given.WithStoredId().Agent.AgentId);
        Assert.False(File.Exists(Path.Combine(other, Drover.Agent.AgentIdentity.FileName)));
        Assert.True(File.Exists(Path.Combine(other, Drover.Agent.AgentIdentity.KeyFileName)));
    }
}
