using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NUnit.Framework;
using StackExchange.Redis;

namespace Bocata.Tests.Redis;

/// <summary>
/// A real 3-master Redis Cluster on loopback ports, made with Debian's redis-server and <c>redis-cli --cluster create</c>
/// (no replicas). Each node keeps an append-only file synced on every write in its own directory, so a node killed and
/// started again on the same port comes back with its data and its place in the cluster.
/// </summary>
internal sealed class RedisCluster : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("bocata-cluster-").FullName;
    private readonly Process?[] _nodes = new Process?[3];

    private RedisCluster(int[] ports) => Ports = ports;

    public int[] Ports { get; }

    /// <summary>The StackExchange.Redis configuration string naming every node.</summary>
    public string Configuration => string.Join(",", Ports.Select(p => $"127.0.0.1:{p}"));

    public static string? Cli => new[] { "/usr/bin/redis-cli", "/usr/local/bin/redis-cli" }.FirstOrDefault(File.Exists);

    public static async Task<RedisCluster> StartAsync()
    {
        if (RedisServer.Binary is null || Cli is null)
            Assert.Ignore("redis-server and redis-cli are not installed: `apt-get install redis-server` (CI installs it) to run the Redis Cluster tests.");
        var cluster = new RedisCluster(FreePorts(3));
        try
        {
            for (var i = 0; i < 3; i++) await cluster.StartNodeAsync(i);
            var create = Process.Start(new ProcessStartInfo(Cli!, ["--cluster", "create", .. cluster.Ports.Select(p => $"127.0.0.1:{p}"), "--cluster-replicas", "0", "--cluster-yes"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var output = await create.StandardOutput.ReadToEndAsync();
            await create.WaitForExitAsync();
            if (create.ExitCode != 0) throw new InvalidOperationException($"redis-cli --cluster create failed: {output}");
            await cluster.UntilHealthyAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Ports whose cluster bus port (port + 10000) is free too.</summary>
    private static int[] FreePorts(int count)
    {
        var ports = new List<int>();
        while (ports.Count < count)
        {
            var port = Random.Shared.Next(20000, 30000);
            if (!ports.Contains(port) && IsFree(port) && IsFree(port + 10000)) ports.Add(port);
        }
        return [.. ports];
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Starts node <paramref name="index"/> (again, after <see cref="Kill"/>: same port, directory and cluster file).</summary>
    public async Task StartNodeAsync(int index)
    {
        var port = Ports[index];
        var dir = Path.Combine(_directory, port.ToString());
        Directory.CreateDirectory(dir);
        var process = Process.Start(new ProcessStartInfo(RedisServer.Binary!,
            ["--port", port.ToString(), "--bind", "127.0.0.1", "--protected-mode", "no", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000", "--dir", dir, "--save", "",
             "--appendonly", "yes", "--appendfsync", "always"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _nodes[index] = process;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Kill(process);
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        throw new InvalidOperationException($"redis-server (cluster node) did not start on port {port}.");
    }

    /// <summary>Kills node <paramref name="index"/> at once (SIGKILL), as a crash.</summary>
    public void Kill(int index)
    {
        if (_nodes[index] is { } process)
        {
            Kill(process);
            process.WaitForExit();
            process.Dispose();
            _nodes[index] = null;
        }
    }

    /// <summary>Waits until every node says <c>cluster_state:ok</c>.</summary>
    public async Task UntilHealthyAsync()
    {
        await TestApps.UntilAsync(async () =>
        {
            foreach (var port in Ports)
            {
                try
                {
                    using var admin = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},allowAdmin=true,abortConnect=false,connectTimeout=1000");
                    var info = (string?)await admin.GetServer($"127.0.0.1:{port}").ExecuteAsync("CLUSTER", "INFO");
                    if (info is null || !info.Contains("cluster_state:ok")) return false;
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    return false;
                }
            }
            return true;
        }, TimeSpan.FromSeconds(30));
    }

    /// <summary>The index of the node that owns <paramref name="slot"/> (redis-cli splits 16,384 slots in three ranges).</summary>
    public static int NodeOf(int slot) => slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2;

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
        for (var i = 0; i < _nodes.Length; i++)
        {
            if (_nodes[i] is not { } process) continue;
            Kill(process);
            await process.WaitForExitAsync();
            process.Dispose();
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
