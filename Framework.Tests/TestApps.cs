using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using NUnit.Framework;

namespace Bocata.Tests;

/// <summary>Shared helpers: an app with the access log off (tests read their own output), JSON reading, waiting, ports, events.</summary>
internal static class TestApps
{
    public static App Quiet(Action<Settings>? configure = null)
    {
        var app = new App();
        app.Configure(s =>
        {
            s.AccessLog = false;
            s.StaticDir = null;
            configure?.Invoke(s);
        });
        return app;
    }

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>();

    public static async Task<string> TextAsync(this HttpResponseMessage response) =>
        await response.Content.ReadAsStringAsync();

    /// <summary>The repository's root (tests read docs and examples from it).</summary>
    public static string Root => Path.GetFullPath(Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", ".."));

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or the time is up (the caller asserts afterwards).</summary>
    public static async Task UntilAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition() && DateTime.UtcNow < until) await Task.Delay(5);
    }

    /// <summary>Polls an asynchronous <paramref name="condition"/> until it holds or the time is up (the caller asserts afterwards).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition() && DateTime.UtcNow < until) await Task.Delay(50);
    }

    /// <summary>Waits until a server answers on <paramref name="http"/>'s base address.</summary>
    public static async Task WaitForServerAsync(HttpClient http)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                await http.GetAsync("/");
                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>The first <paramref name="count"/> events (fewer if the stream ends first), within <paramref name="within"/> (10 s).</summary>
    public static async Task<List<ServerEvent>> TakeAsync(this IAsyncEnumerable<ServerEvent> events, int count, TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(10));
        var result = new List<ServerEvent>();
        await foreach (var e in events.WithCancellation(timeout.Token))
        {
            result.Add(e);
            if (result.Count == count) break;
        }
        return result;
    }
}
