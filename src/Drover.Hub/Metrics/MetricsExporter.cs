using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Drover.Hub.Metrics;

/// <summary>One hub's Prometheus exposition: an OpenTelemetry <see cref="MeterProvider"/> of its own with the Prometheus
/// exporter, and the exporter's middleware that answers a scrape (<c>GET /metrics</c>, Http/MetricsEndpoints).
/// <para>Isolation: the OpenTelemetry SDK subscribes to meters by name, process-wide, so a provider that adds the meter
/// <see cref="HubMetrics.MeterName"/> would see the instruments of every hub in the process (tests and the bench run many).
/// This provider therefore adds the name and then drops, by a view, every instrument whose <see cref="System.Diagnostics.Metrics.Meter"/>
/// is not this hub's instance: the SDK then never enables those instruments for this provider, so another hub's
/// measurements cost it nothing and never show in its scrape.</para></summary>
internal sealed class MetricsExporter : IDisposable
{
    private readonly MeterProvider _provider;
    private readonly ServiceProvider _services = new ServiceCollection().BuildServiceProvider();
    private readonly RequestDelegate _scrape;

    public MetricsExporter(HubMetrics metrics, string hubId)
    {
        var meter = metrics.Meter;
        _provider = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(resource => resource.Clear().AddService("drover-hub", serviceInstanceId: hubId, autoGenerateServiceInstanceId: false))
            .AddMeter(HubMetrics.MeterName)
            .AddView(instrument => ReferenceEquals(instrument.Meter, meter) ? null : MetricStreamConfiguration.Drop)
            .AddPrometheusExporter(options =>
            {
                // A scrape within this time of the previous one gets the same answer (several Prometheus servers).
                options.ScrapeResponseCacheDurationMilliseconds = 1000;
            })
            .Build();
        metrics.Prime();

        // The exporter's middleware is reached through its pipeline extension, on a pipeline of its own: the endpoint
        // (behind the API's gate) decides the path, so the branch takes every request it is given.
        var pipeline = new ApplicationBuilder(_services);
        pipeline.UseOpenTelemetryPrometheusScrapingEndpoint(_provider, _ => true, path: null, configureBranchedPipeline: null, optionsName: null);
        _scrape = pipeline.Build();
    }

    /// <summary>Writes the Prometheus text exposition of this hub's instruments.</summary>
    public Task ScrapeAsync(HttpContext context) => _scrape(context);

    public void Dispose()
    {
        _provider.Dispose();
        _services.Dispose();
    }
}
