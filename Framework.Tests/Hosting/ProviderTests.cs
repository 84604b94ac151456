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
}
