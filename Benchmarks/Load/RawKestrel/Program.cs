// The limit: Kestrel driven through a bare IHttpApplication, no framework at all, same endpoints.
using System.Buffers;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

var port = int.Parse(Environment.GetEnvironmentVariable("PORT") ?? "5001");
var options = new KestrelServerOptions { AddServerHeader = false };
options.Listen(IPAddress.Loopback, port);
var server = new KestrelServer(Options.Create(options),
    new SocketTransportFactory(Options.Create(new SocketTransportOptions { WaitForDataBeforeAllocatingBuffer = false }), NullLoggerFactory.Instance),
    NullLoggerFactory.Instance);
await server.StartAsync(new RawApp(), CancellationToken.None);
Console.WriteLine($"raw kestrel on http://127.0.0.1:{port}");
var stop = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
await stop.Task;
await server.StopAsync(CancellationToken.None);

internal sealed class RawApp : IHttpApplication<IFeatureCollection>
{
    private static readonly byte[] Plain = "Hello, World!"u8.ToArray();
    private static readonly byte[] EventBytes = "data: {\"temperature\":10.41549470378961}\n\n"u8.ToArray();
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public IFeatureCollection CreateContext(IFeatureCollection contextFeatures) => contextFeatures;

    public void DisposeContext(IFeatureCollection context, Exception? exception)
    {
    }

    public Task ProcessRequestAsync(IFeatureCollection features)
    {
        try
        {
            return Process(features);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            throw;
        }
    }

    private static Task Process(IFeatureCollection features)
    {
        var request = features.GetRequiredFeature<IHttpRequestFeature>();
        var response = features.GetRequiredFeature<IHttpResponseFeature>();
        var body = features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var path = request.Path;
        if (path == "/plaintext")
        {
            response.Headers.ContentType = "text/plain";
            response.Headers.ContentLength = Plain.Length;
            Plain.CopyTo(body.Writer.GetSpan(Plain.Length));
            body.Writer.Advance(Plain.Length);
            return Task.CompletedTask;
        }
        if (path == "/json")
        {
            WriteJson(response, body, new Greeting("Hello, World!"));
            return Task.CompletedTask;
        }
        if (path.StartsWith("/items/", StringComparison.Ordinal) && int.TryParse(path.AsSpan(7), out var id))
        {
            WriteJson(response, body, new Item(id, "item"));
            return Task.CompletedTask;
        }
        if (path == "/sse") return StreamAsync(features, response, body);
        response.StatusCode = 404;
        return Task.CompletedTask;
    }

    private static void WriteJson<T>(IHttpResponseFeature response, IHttpResponseBodyFeature body, T value)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, Json);
        response.Headers.ContentType = "application/json";
        response.Headers.ContentLength = bytes.Length;
        bytes.CopyTo(body.Writer.GetSpan(bytes.Length));
        body.Writer.Advance(bytes.Length);
    }

    private static async Task StreamAsync(IFeatureCollection features, IHttpResponseFeature response, IHttpResponseBodyFeature body)
    {
        response.Headers.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        var ct = features.GetRequiredFeature<IHttpRequestLifetimeFeature>().RequestAborted;
        await body.StartAsync(ct);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                body.Writer.Write(EventBytes);
                var result = await body.Writer.FlushAsync(ct);
                if (result.IsCompleted || result.IsCanceled) break;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

internal sealed record Greeting(string Message);

internal sealed record Item(int Id, string Name);
