using System.Diagnostics;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Bocata.Tests.Docs;

/// <summary>A real nginx on a free loopback port, run with a configuration taken from the docs or the examples as a user would
/// copy it: only the upstream addresses, the listening port and the temporary paths are changed.</summary>
internal sealed partial class NginxProxy : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/nginx";

    private readonly Process _process;
    private readonly string _dir;

    private NginxProxy(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
        Url = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }

    public Uri Url { get; }

    /// <summary>The configurations the tests run: the guides' first nginx block, or the ScaleOut example's nginx.conf.</summary>
    public static readonly string[] Documented = ["docs/guide/deployment.md", "docs/guide/scaling.md", "Examples/ScaleOut/nginx.conf"];

    public static void IgnoreWithoutNginx()
    {
        if (!File.Exists(Binary)) Assert.Ignore($"nginx is not installed at {Binary} (apt-get install -y nginx-light; .ci/run installs it).");
    }

    /// <summary>Starts the configuration <paramref name="source"/> (one of <see cref="Documented"/>) in front of the apps at
    /// <paramref name="apps"/> (host:port; the configuration's upstream servers in turn, e.g. one app for all, or two).</summary>
    public static NginxProxy Start(string source, params string[] apps)
    {
        var app = apps[0];
        var dir = Directory.CreateTempSubdirectory("bocata-nginx").FullName;
        var port = TestApps.FreePort();
        var text = File.ReadAllText(Path.Combine(TestApps.Root, source));
        string conf;
        if (source.EndsWith(".md", StringComparison.Ordinal))
        {
            var server = NginxBlock().Match(text).Groups[1].Value;
            var upstreams = UpstreamServer().Count(server);
            if (upstreams == 0 || !server.Contains("listen 80;", StringComparison.Ordinal))
                throw new InvalidOperationException($"{source}'s nginx block no longer has `server 127.0.0.1:800x` upstreams and `listen 80;`: update this test.");
            var next = 0;
            server = UpstreamServer().Replace(server, _ => $"server {apps[next++ % apps.Length]}")
                .Replace("listen 80;", $"listen 127.0.0.1:{port};", StringComparison.Ordinal);
            conf = $$"""
                pid {{dir}}/nginx.pid;
                error_log {{dir}}/error.log;
                events { worker_connections 64; }
                http {
                    access_log off;
                    client_body_temp_path {{dir}}/body;
                    proxy_temp_path {{dir}}/proxy;
                    fastcgi_temp_path {{dir}}/fastcgi;
                    uwsgi_temp_path {{dir}}/uwsgi;
                    scgi_temp_path {{dir}}/scgi;
                    {{server}}
                }
                """;
        }
        else
        {
            var appPort = app[(app.LastIndexOf(':') + 1)..];
            conf = text.Replace("__DIR__", dir, StringComparison.Ordinal).Replace("__PORT_A__", appPort, StringComparison.Ordinal)
                .Replace("__PORT_B__", apps[^1][(apps[^1].LastIndexOf(':') + 1)..], StringComparison.Ordinal).Replace("__PORT__", port.ToString(), StringComparison.Ordinal);
        }
        var path = Path.Combine(dir, "nginx.conf");
        File.WriteAllText(path, conf);
        var process = Process.Start(new ProcessStartInfo(Binary, ["-c", path, "-p", dir, "-g", "daemon off; master_process off;"]) { RedirectStandardError = true })!;
        return new NginxProxy(process, dir, port);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [GeneratedRegex("```nginx\\r?\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex NginxBlock();

    [GeneratedRegex(@"server 127\.0\.0\.1:800\d")]
    private static partial Regex UpstreamServer();
}
