using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Hosting;

public class ProviderTests
{
    internal sealed class Clock
    {
        public static int Created;
        public Clock() => Interlocked.Increment(ref Created);
        public string Now => "12:00";
    }

    internal sealed class RequestId : IDisposable
    {
        public static int Disposed;
        public Guid Value { get; } = Guid.NewGuid();
        public void Dispose() => Interlocked.Increment(ref Disposed);
    }

    internal sealed class GreeterView(Clock clock)
    {
        public void Get(Request req, Response res, string name) => res.Text = $"hi {name} at {clock.Now}";
    }

    [Test]
    public async Task Provided_values_are_injected_by_type_with_their_scope()
    {
        var app = TestApps.Quiet();
        app.Provide(() => new Clock(), ProviderScope.App);
        app.Provide<RequestId>(_ => new RequestId());
        app.Route("/ids", (Request req, Response res, RequestId first, RequestId second, Clock clock) =>
            res.Text = $"{first.Value == second.Value} {clock.Now}");
        app.Route<GreeterView>("/greet/{name}");
        await using var client = app.CreateClient();
        var createdBefore = Clock.Created;
        var disposedBefore = RequestId.Disposed;

        (await client.GetStringAsync("/ids")).Should().Be("True 12:00");
        (await client.GetStringAsync("/ids")).Should().Be("True 12:00");
        (await client.GetStringAsync("/greet/ana")).Should().Be("hi ana at 12:00");

        (Clock.Created - createdBefore).Should().BeLessThanOrEqualTo(1, "an app-scoped value is created once");
        (RequestId.Disposed - disposedBefore).Should().Be(2, "a request-scoped value is disposed after each request");
    }

    [Test]
    public async Task A_req_res_handler_reads_provided_values_in_the_request_scope()
    {
        var app = TestApps.Quiet();
        app.Provide(() => new Clock(), ProviderScope.App);
        app.Provide<RequestId>(_ => new RequestId());
        app.Route("/ids", (req, res) => res.Text = $"{req.Service<RequestId>().Value == req.Service<RequestId>().Value} {req.Service<Clock>().Now} {req.Service<RequestId>().Value}");
        app.Route("/missing", (req, res) => res.Text = req.Service<GreeterView>().ToString()!);
        await using var client = app.CreateClient();

        var first = (await client.GetStringAsync("/ids")).Split(' ');
        var second = (await client.GetStringAsync("/ids")).Split(' ');
        first[..2].Should().Equal("True", "12:00");
        second[..2].Should().Equal("True", "12:00");
        first[2].Should().NotBe(second[2], "a request-scoped value is new in each request");
        using var missing = await client.GetAsync("/missing");
        ((int)missing.StatusCode).Should().Be(500, "asking for what was never provided is the app's bug");
        (await missing.Content.ReadAsStringAsync()).Should().NotContain("GreeterView", "no exception message reaches the client");
    }
}
