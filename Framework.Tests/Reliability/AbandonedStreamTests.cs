using Microsoft.Extensions.DependencyInjection;
using System.Collections.Concurrent;
using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>Review defect 8: an event stream generator that ignores its cancellation token outlives its request; it must never
/// see the request that Kestrel later serves on the same pooled HTTP/2 stream or HTTP/1.1 connection.</summary>
[NonParallelizable]
public class AbandonedStreamTests
{
    [Test]
    public async Task A_generator_that_ignores_cancellation_never_sees_the_next_request_on_its_connection()
    {
        using var certificate = TestCertificates.SelfSigned();
        var app = TestApps.Quiet(s => s.Certificate = certificate);
        var seen = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Route("/stubborn", (req, res) => res.EventStream(Stubborn(req)));
        app.Route("/next", (req, res) => res.Text = "next " + req.Headers["X-Secret"]);

        async IAsyncEnumerable<ServerEvent> Stubborn(Request req)
        {
            yield return new ServerEvent(data: "hello");
            first.TrySetResult();
            // Ignores the request's token: keeps reading the request it was given, long after that request ended.
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    seen.Enqueue($"{req.Method} {req.Path} {req.Headers["X-Secret"]} {req.QueryParams["q"]}");
                }
                catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException or NullReferenceException)
                {
                    seen.Enqueue("detached");
                }
                await Task.Delay(20, CancellationToken.None);
            }
        }

        await using var running = await app.StartAsync("127.0.0.1", 0);
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == certificate.GetCertHashString();
        using var http = new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };

        using (var cancel = new CancellationTokenSource())
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, running.Url + "/stubborn?q=first") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            request.Headers.Add("X-Secret", "first-secret");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await first.Task.WaitAsync(TimeSpan.FromSeconds(10));
            cancel.Cancel();
        } // Disposing the response resets the HTTP/2 stream: the request is over, the generator is left running.
        await Task.Delay(TimeSpan.FromSeconds(2)); // past the one second the sender waits for a generator to notice

        // Many requests on the same connection: Kestrel reuses its pooled streams (and their host contexts).
        for (var i = 0; i < 20; i++)
        {
            using var next = new HttpRequestMessage(HttpMethod.Get, running.Url + "/next?q=second") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            next.Headers.Add("X-Secret", "second-secret");
            using var response = await http.SendAsync(next);
            response.Version.Should().Be(HttpVersion.Version20);
            (await response.Content.ReadAsStringAsync()).Should().Be("next second-secret");
        }
        await Task.Delay(200);
        stop.Cancel();

        seen.Should().NotBeEmpty();
        seen.Should().Contain(s => s.Contains("first-secret"), "the generator saw its own request while it lasted");
        seen.Should().NotContain(s => s.Contains("second") || s.Contains("/next"));
        // Detached once its request ended: no method, no headers, no query — nothing Kestrel's pooled objects hold later.
        seen.Last().Should().Be(" /  ");
    }
}

/// <summary>Kestrel hands the connection's (or pooled HTTP/2 stream's) host context back for the next request: an abandoned one
/// must be replaced, not reused.</summary>
public class HostContextReuseTests
{
    private sealed class Container : Microsoft.AspNetCore.Http.Features.FeatureCollection, Microsoft.AspNetCore.Hosting.Server.Abstractions.IHostContextContainer<RequestContext>
    {
        public RequestContext? HostContext { get; set; }
    }

    private static Container Features()
    {
        var features = new Container();
        features.Set<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>(new Microsoft.AspNetCore.Http.Features.HttpRequestFeature { Method = "GET", Path = "/x" });
        features.Set<Microsoft.AspNetCore.Http.Features.IHttpResponseFeature>(new Microsoft.AspNetCore.Http.Features.HttpResponseFeature());
        features.Set<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>(new Microsoft.AspNetCore.Http.StreamResponseBodyFeature(Stream.Null));
        return features;
    }

    [Test]
    public void A_connection_reuses_its_context_unless_a_stream_abandoned_it()
    {
        using var services = new ServiceCollection().BuildServiceProvider();
        using var state = new ServerState(TestApps.Quiet(), (req, res) => Task.CompletedTask, new Settings(), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, services);
        var application = new BocataApplication(state);
        var features = Features();

        var first = application.CreateContext(features);
        application.DisposeContext(first, null);
        application.CreateContext(features).Should().BeSameAs(first);

        first.Abandon();
        application.DisposeContext(first, null);
        first.Request.Method.Should().BeEmpty();
        first.Request.Path.Should().Be("/");
        application.CreateContext(features).Should().NotBeSameAs(first);
    }
}
