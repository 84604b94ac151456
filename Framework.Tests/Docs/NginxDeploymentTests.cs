using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Docs;

/// <summary>The nginx configuration in docs/guide/deployment.md, run for real in front of an app: events pass through unbuffered,
/// a WebSocket upgrades, a 2 MB upload arrives.</summary>
[NonParallelizable]
public partial class NginxDeploymentTests
{
    private const string Nginx = "/usr/sbin/nginx";

    [Test]
    public async Task The_documented_nginx_config_passes_events_through_as_they_are_sent()
    {
        if (!File.Exists(Nginx)) Assert.Ignore($"nginx is not installed at {Nginx} (apt-get install -y nginx-light; .ci/run installs it).");

        var release = new TaskCompletionSource();
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = $"proxied for {req.Headers["X-Forwarded-For"]}");
        app.Route("/temperature-feed", (req, res) => res.EventStream(Feed()));
        app.WebSocketRoute("/chat", async ws =>
        {
            await foreach (var message in ws) await ws.SendTextAsync($"echo: {message}");
        });
        app.Post("/upload", async (req, res) =>
        {
            var file = (await req.FormAsync()).File("doc")!;
            res.Text = $"{file.FileName} {file.Length}";
        });
        async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(json: new { temperature = 10.5 });
            await release.Task.WaitAsync(ct);
            yield return new ServerEvent(json: new { temperature = 11.5 });
        }
        await using var client = app.CreateClient();

        var (nginx, port, dir) = StartDocumentedNginx(client.BaseAddress!.Authority);
        using var nginxProcess = nginx;
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await TestApps.WaitForServerAsync(http);

            (await http.GetStringAsync("/")).Should().Be("proxied for 127.0.0.1");
            using var response = await http.GetAsync("/temperature-feed", HttpCompletionOption.ResponseHeadersRead);
            response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            // The second event is held back by the app: the first must arrive on its own, not buffered by nginx.
            (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("""data: {"temperature":10.5}""");
            release.SetResult();
            (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("");
            (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("""data: {"temperature":11.5}""");

            // A WebSocket through the same configuration (a fixed `Connection ""` made this a 426).
            using (var socket = new System.Net.WebSockets.ClientWebSocket())
            {
                await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat"), CancellationToken.None);
                await socket.SendAsync("via nginx"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);
                var buffer = new byte[256];
                var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count).Should().Be("echo: via nginx");
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            }

            // A 2 MB upload (nginx's default limit is 1 MB).
            using var upload = new MultipartFormDataContent("----nginx");
            upload.Add(new ByteArrayContent(new byte[2 * 1024 * 1024]), "doc", "big.bin");
            var uploaded = await http.PostAsync("/upload", upload);
            uploaded.StatusCode.Should().Be(HttpStatusCode.OK);
            (await uploaded.Content.ReadAsStringAsync()).Should().Be("big.bin 2097152");
        }
        finally
        {
            nginx.Kill();
            await nginx.WaitForExitAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public async Task Behind_the_documented_nginx_a_client_cannot_choose_the_host_or_scheme_the_app_sees()
    {
        if (!File.Exists(Nginx)) Assert.Ignore($"nginx is not installed at {Nginx} (apt-get install -y nginx-light; .ci/run installs it).");
        var app = TestApps.Quiet(s =>
        {
            s.TrustedProxies = ["127.0.0.1"];
            s.AllowedHosts = ["example.com"];
            s.Hsts = true;
        });
        app.Route("/info", (req, res) => res.Text = req.Url.ToString());
        await using var client = app.CreateClient();

        var (nginx, port, dir) = StartDocumentedNginx(client.BaseAddress!.Authority);
        using var nginxProcess = nginx;
        try
        {
            using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            for (var i = 0; i < 100; i++)
            {
                try
                {
                    await http.GetAsync("/info");
                    break;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(100);
                }
            }
            foreach (var path in new[] { "/info", "/temperature-feed" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.Host = "example.com";
                request.Headers.Add("X-Forwarded-Host", "evil.example");
                request.Headers.Add("X-Forwarded-Proto", "http");
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                // HSTS on a plain-HTTP request: a redirect to the same host over HTTPS — never to the host the client named.
                response.StatusCode.Should().Be(HttpStatusCode.MovedPermanently, path);
                response.Headers.Location!.ToString().Should().StartWith($"https://example.com{path}", path);
            }
            using var evil = new HttpRequestMessage(HttpMethod.Get, "/info");
            evil.Headers.Host = "evil.example";
            (await http.SendAsync(evil)).StatusCode.Should().Be(HttpStatusCode.BadRequest, "a Host outside AllowedHosts is refused");
        }
        finally
        {
            nginx.Kill();
            await nginx.WaitForExitAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>deployment.md's nginx block, run for real in front of the app at <paramref name="app"/> on a free port.</summary>
    private static (Process Nginx, int Port, string Dir) StartDocumentedNginx(string app)
    {
        var dir = Directory.CreateTempSubdirectory("bocata-nginx").FullName;
        var port = TestApps.FreePort();
        var server = NginxBlock().Match(File.ReadAllText(Path.Combine(TestApps.Root, "docs", "guide", "deployment.md"))).Groups[1].Value
            .Replace("server 127.0.0.1:8000;", $"server {app};", StringComparison.Ordinal)
            .Replace("listen 80;", $"listen 127.0.0.1:{port};", StringComparison.Ordinal);
        var conf = Path.Combine(dir, "nginx.conf");
        File.WriteAllText(conf, $$"""
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
            """);
        return (Process.Start(new ProcessStartInfo(Nginx, ["-c", conf, "-p", dir, "-g", "daemon off; master_process off;"]) { RedirectStandardError = true })!, port, dir);
    }

    [GeneratedRegex("```nginx\\r?\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex NginxBlock();
}
