using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>
/// A real redis-server for the tests: the one `.ci/run` started (BOCATA_REDIS), else a throwaway one started here on a free
/// port without persistence. Without redis-server on the machine, Redis tests are skipped with the reason.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private static readonly Lazy<Task<RedisServer?>> SharedServer = new(() => StartOrFindAsync());
    private readonly Process? _process;

    private RedisServer(string endpoint, Process? process)
    {
        Endpoint = endpoint;
        _process = process;
    }

    public string Endpoint { get; }

    public int Port => int.Parse(Endpoint[(Endpoint.LastIndexOf(':') + 1)..]);

    public static string? Binary => new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);

    /// <summary>The server every Redis test shares; skips the test when none can be had.</summary>
    public static async Task<RedisServer> SharedAsync()
    {
        var server = await SharedServer.Value;
        if (server is null) Assert.Ignore("redis-server is not installed: `apt-get install redis-server` (CI installs it) to run the Redis backplane tests.");
        return server!;
    }

    /// <summary>A server of the test's own, for faults that stop or restart it; with <paramref name="dataDirectory"/>, <c>SAVE</c>
    /// writes a snapshot there and a restart on that directory loads it (no automatic saves).</summary>
    public static async Task<RedisServer> StartDedicatedAsync(int? port = null, string? dataDirectory = null)
    {
        if (Binary is null) Assert.Ignore("redis-server is not installed: `apt-get install redis-server` (CI installs it) to run the Redis fault tests.");
        return await StartAsync(port ?? TestApps.FreePort(), dataDirectory);
    }

    private static async Task<RedisServer?> StartOrFindAsync()
    {
        if (Environment.GetEnvironmentVariable("BOCATA_REDIS") is { Length: > 0 } endpoint) return new RedisServer(endpoint, null);
        if (Binary is null) return null;
        return await StartAsync(TestApps.FreePort());
    }

    private static async Task<RedisServer> StartAsync(int port, string? dataDirectory = null)
    {
        string[] args = ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"];
        if (dataDirectory is not null) args = [.. args, "--dir", dataDirectory, "--dbfilename", "dump.rdb"];
        var info = new ProcessStartInfo(Binary!, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var endpoint = $"127.0.0.1:{port}";
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                AppDomain.CurrentDomain.ProcessExit += (_, _) => Kill(process);
                return new RedisServer(endpoint, process);
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        Kill(process);
        throw new InvalidOperationException($"redis-server did not start on port {port}.");
    }

    /// <summary>An admin connection for fault injection (CLIENT KILL, CLIENT PAUSE, XTRIM, SHUTDOWN).</summary>
    public Task<ConnectionMultiplexer> AdminAsync() =>
        ConnectionMultiplexer.ConnectAsync($"{Endpoint},allowAdmin=true,abortConnect=false");

    public static string Topic() => "test-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>How many times <paramref name="server"/> ran the given commands since its stats were reset (<c>INFO commandstats</c>).</summary>
    public static async Task<int> CallsAsync(IServer server, params string[] commands)
    {
        var stats = (string)(await server.ExecuteAsync("INFO", "commandstats"))!;
        return stats.Split('\n').Where(l => commands.Any(c => l.StartsWith($"cmdstat_{c}:", StringComparison.Ordinal)))
            .Sum(l => int.Parse(l.Split(',')[0].Split('=')[1]));
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill();
        }
        catch (InvalidOperationException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is null) return;
        Kill(_process);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
