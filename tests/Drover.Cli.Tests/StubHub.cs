using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Drover.Cli.Tests;

/// <summary>A stand-in for the hub's HTTP API on 127.0.0.1 (real Kestrel, real sockets), answering what each
/// test tells it to and recording every request, so the CLI's side of the contract in docs/jobs-plan.md
/// is tested without the hub's job engine.</summary>
internal sealed class StubHub : IAsyncDisposable
{
    private readonly WebApplication _app;

    private StubHub(WebApplication app) => _app = app;

    /// <summary>Every request in arrival order.</summary>
    public ConcurrentQueue<StubRequest> Requests { get; } = new();

    public string Api { get; private set; } = string.Empty;

    public static async Task<StubHub> StartAsync(Func<StubRequest, HttpContext, Task> answer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var stub = new StubHub(app);
        app.Run(async context =>
        {
            var request = await StubRequest.ReadAsync(context.Request);
            stub.Requests.Enqueue(request);
            await answer(request, context);
        });
        await app.StartAsync();
        stub.Api = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return stub;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public static Task Json(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(json);
    }
}

/// <summary>One request as the stub saw it: the body read whole, multipart parts split out.</summary>
internal sealed record StubRequest(string Method, string Path, IQueryCollection Query, string? ContentType, byte[] Body, IReadOnlyList<(string Name, string? FileName, byte[] Content)> Parts)
{
    public static async Task<StubRequest> ReadAsync(HttpRequest request)
    {
        var parts = new List<(string, string?, byte[])>();
        byte[] body = [];
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync();
            foreach (var file in form.Files)
            {
                using var copy = new MemoryStream();
                await file.CopyToAsync(copy);
                parts.Add((file.Name, file.FileName, copy.ToArray()));
            }
        }
        else
        {
            using var copy = new MemoryStream();
            await request.Body.CopyToAsync(copy);
            body = copy.ToArray();
        }

        return new StubRequest(request.Method, request.Path.Value ?? string.Empty, request.Query, request.ContentType, body, parts);
    }
}
