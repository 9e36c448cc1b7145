using System.Text;

namespace Drover.Cli.Configuration;

/// <summary>Renders the settings tables of docs/configuration.md from the catalogs (a test holds the page equal to it).</summary>
internal static class ConfigurationDoc
{
    public const string Begin = "<!-- settings: generated from src/Drover.Cli/Configuration by ConfigurationDoc; a test checks it -->";
    public const string End = "<!-- end of generated settings -->";

    /// <summary>The generated part of the page, from <see cref="Begin"/> to <see cref="End"/> inclusive.</summary>
    public static string Render()
    {
        var text = new StringBuilder();
        text.Append(Begin).Append('\n');
        Table(text, ServeSettings.Catalog);
        Table(text, AgentSettings.Catalog);
        text.Append(End).Append('\n');
        return text.ToString();
    }

    private static void Table<T>(StringBuilder text, SettingsCatalog<T> catalog)
        where T : new()
    {
        var defaults = new T();
        text.Append('\n').Append($"### `drover {catalog.Command}` (JSON section `{catalog.Section}`)\n\n");
        text.Append("| setting | flag | environment | JSON key | value | default | meaning |\n");
        text.Append("|---|---|---|---|---|---|---|\n");
        foreach (var setting in catalog.Settings)
        {
            var flag = setting.Kind switch
            {
                SettingKind.List => $"`{setting.Flag}` (repeatable)",
                SettingKind.Switch => $"`{setting.Flag}`",
                _ => $"`{setting.Flag}`",
            };
            var defaultText = setting.DefaultInWords is null ? $"`{setting.Default(defaults)}`" : setting.DefaultInWords;
            text.Append($"| {setting.Name} | {flag} | `{setting.EnvironmentVariable}` | `{catalog.JsonKey(setting)}` | {Cell(setting.ValueKind)} | {Cell(defaultText)} | {Cell(setting.Meaning)} |\n");
        }

        text.Append('\n');
    }

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);
}
