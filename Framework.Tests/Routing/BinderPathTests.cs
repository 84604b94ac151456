using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

/// <summary>
/// Which binder bound the typed handlers: in Bocata.Tests the runtime one (reflection, compiled expressions); in
/// Bocata.Tests.Generated, compiled with the source generator on, generated code — the runtime binder compiles nothing. The
/// same requests get the same answers both ways (this file and the binding tests are compiled into both test projects).
/// </summary>
[NonParallelizable]
public class BinderPathTests
{
    internal sealed class Greeter
    {
        public string Greet(string name) => $"hello {name}";
    }

    internal enum Size
    {
        Small,
        Large,
    }

    [Test]
    public async Task Typed_handlers_are_bound_by_the_expected_binder_with_the_same_answers()
    {
        var before = ParameterBinder.Compilations;
        var app = TestApps.Quiet();
        app.Provide(() => new Greeter(), ProviderScope.App);
        app.Get("/items/{id}", (Request req, Response res, int id, [System.ComponentModel.DataAnnotations.Range(1, 50)] int limit = 10, Size size = Size.Small) =>
            res.Text = $"{id}:{limit}:{size}");
        app.Get("/greet/{name}", async (Request req, Response res, string name, Greeter greeter) =>
        {
            await Task.Yield();
            res.Text = greeter.Greet(name);
        });
        app.Route("/value/{n}", (Request req, Response res, double n) => Task.FromResult(res.Text = (n * 2).ToString(System.Globalization.CultureInfo.InvariantCulture)), "GET", "POST");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/items/7?limit=3&size=large")).Should().Be("7:3:Large");
        (await client.GetStringAsync("/items/7")).Should().Be("7:10:Small");
        using var bad = await client.GetAsync("/items/x?limit=99");
        bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var detail = (await bad.JsonAsync()).GetProperty("detail");
        detail.GetProperty("id").GetString().Should().Be("Must be a number.");
        detail.GetProperty("limit").GetString().Should().Be("Must be less than or equal to 50.");
        (await client.GetStringAsync("/greet/ana")).Should().Be("hello ana");
        (await client.PostAsync("/value/1.5", null)).Content.ReadAsStringAsync().Result.Should().Be("3");

        var compiled = ParameterBinder.Compilations - before;
#if BOCATA_GENERATED
        compiled.Should().Be(0, "the source generator bound every typed handler");
#else
        compiled.Should().Be(3, "without the generator the runtime binder compiles each typed handler");
#endif
    }

    [Test]
    public async Task Typed_handlers_with_a_rate_limit_chained_are_bound_by_the_expected_binder()
    {
        var before = ParameterBinder.Compilations;
        var app = TestApps.Quiet();
        app.Post("/login/{name}", (Request req, Response res, string name, int tries = 1) => res.Text = $"{name}:{tries}").RateLimit(2, TimeSpan.FromMinutes(1));
        app.Get("/feed/{id}", (Request req, Response res, int id) => res.Text = $"feed {id}").MaxBodySize(10).RateLimit(1, TimeSpan.FromMinutes(1));
        app.WebSocketRoute("/ws/{room}", async (WebSocket ws, int room) => await ws.SendTextAsync($"room {room}")).RateLimit(1, TimeSpan.FromMinutes(1));
        await using var client = app.CreateClient();

        (await (await client.PostAsync("/login/ana?tries=3", null)).Content.ReadAsStringAsync()).Should().Be("ana:3");
        (await client.PostAsync("/login/ana", null)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.PostAsync("/login/ana", null)).StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await client.GetStringAsync("/feed/4")).Should().Be("feed 4");
        (await client.GetAsync("/feed/4")).StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        using (var socket = await client.WebSocketConnectAsync("/ws/2"))
            (await ReceiveTextAsync(socket)).Should().Be("room 2");
        var again = () => client.WebSocketConnectAsync("/ws/2");
        (await again.Should().ThrowAsync<System.Net.WebSockets.WebSocketException>()).Which.Message.Should().Contain("429");

        var compiled = ParameterBinder.Compilations - before;
#if BOCATA_GENERATED
        compiled.Should().Be(0, "the source generator bound every typed handler, .RateLimit chained or not");
#else
        compiled.Should().Be(3, "without the generator the runtime binder compiles each typed handler");
#endif
    }

    [Test]
    public async Task Typed_websocket_handlers_are_bound_by_the_expected_binder_with_the_same_answers()
    {
        var before = ParameterBinder.Compilations;
        var app = TestApps.Quiet();
        app.Provide(() => new Greeter(), ProviderScope.App);
        app.WebSocketRoute("/rooms/{room}", async (WebSocket ws, int room, Greeter greeter, [System.ComponentModel.DataAnnotations.Range(1, 10)] int size = 2) =>
            await ws.SendTextAsync($"{greeter.Greet(ws.QueryParams["user"] ?? "?")} in room {room} of {size}"));
        app.WebSocketRoute("/echo/{times}", ValueTask (WebSocket ws, int times) => new ValueTask(ws.SendTextAsync(string.Concat(Enumerable.Repeat("hi ", times)))));
        await using var client = app.CreateClient();

        using (var socket = await client.WebSocketConnectAsync("/rooms/7?user=ana&size=4"))
            (await ReceiveTextAsync(socket)).Should().Be("hello ana in room 7 of 4");
        using (var socket = await client.WebSocketConnectAsync("/echo/2"))
            (await ReceiveTextAsync(socket)).Should().Be("hi hi ");
        var refused = () => client.WebSocketConnectAsync("/rooms/seven?size=99");
        (await refused.Should().ThrowAsync<System.Net.WebSockets.WebSocketException>()).Which.Message.Should().Contain("403");

        var compiled = ParameterBinder.Compilations - before;
#if BOCATA_GENERATED
        compiled.Should().Be(0, "the source generator bound both WebSocket handlers");
#else
        compiled.Should().Be(2, "without the generator the runtime binder compiles each typed WebSocket handler");
#endif
    }

    public sealed class Tag : IHook
    {
        public Task InvokeAsync(Request req, Response res, IReadOnlyDictionary<string, object?> pathParams)
        {
            res.Headers.Append("X-Tags", $"{pathParams["id"]}:{pathParams["id"]!.GetType().Name}");
            return Task.CompletedTask;
        }
    }

    [Before(typeof(Tag))]
    internal sealed class ItemView(Greeter greeter)
    {
        public void Get(Request req, Response res, int id, [System.ComponentModel.DataAnnotations.Range(1, 50)] int limit = 10) =>
            res.Text = $"{greeter.Greet("view")} {id}:{limit}";

        [After(typeof(Tag))]
        public async Task<string> Post(Request req, Response res, int id) => res.Text = $"posted {id} {await req.TextAsync()}";
    }

    [Route("/things/{id}", Name = "thing")]
    public sealed class ThingView
    {
        public void Handle(Request req, Response res, string id) => res.Text = $"{req.Method} thing {id}";
    }

    public static class Handlers
    {
        [Route("/double/{n}", "GET", "POST", Name = "double")]
        public static string Twice(Request req, Response res, int n) => res.Text = (n * 2).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    [Test]
    public async Task Views_and_route_attributes_are_bound_by_the_expected_binder_with_the_same_answers()
    {
        var before = ParameterBinder.Compilations;
        var app = TestApps.Quiet();
        app.Provide(() => new Greeter(), ProviderScope.App);
        app.Route<ItemView>("/items/{id}", name: "item");
        app.Route<ThingView>();
        app.Routes(typeof(Handlers));
        await using var client = app.CreateClient();

        using (var got = await client.GetAsync("/items/3?limit=4"))
        {
            (await got.Content.ReadAsStringAsync()).Should().Be("hello view 3:4");
            got.Headers.GetValues("X-Tags").Should().Equal("3:Int32");
        }
        using (var posted = await client.PostAsync("/items/5", new StringContent("x")))
        {
            (await posted.Content.ReadAsStringAsync()).Should().Be("posted 5 x");
            posted.Headers.GetValues("X-Tags").Should().Equal("5:Int32", "5:Int32");
        }
        using (var bad = await client.GetAsync("/items/x?limit=99"))
        {
            bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
            var detail = (await bad.JsonAsync()).GetProperty("detail");
            detail.GetProperty("id").GetString().Should().Be("Must be a number.");
            detail.GetProperty("limit").GetString().Should().Be("Must be less than or equal to 50.");
        }
        (await (await client.DeleteAsync("/things/lamp")).Content.ReadAsStringAsync()).Should().Be("DELETE thing lamp");
        (await (await client.PostAsync("/double/21", null)).Content.ReadAsStringAsync()).Should().Be("42");
        app.UrlFor("item", new { id = 1 }).Should().Be("/items/1");
        app.UrlFor("thing", new { id = "a" }).Should().Be("/things/a");
        app.UrlFor("double", new { n = 2 }).Should().Be("/double/2");

        var compiled = ParameterBinder.Compilations - before;
#if BOCATA_GENERATED
        compiled.Should().Be(0, "the source generator bound the views and the [Route] method");
#else
        compiled.Should().Be(4, "without the generator the runtime binder compiles each method");
#endif
    }

    private static async Task<string> ReceiveTextAsync(System.Net.WebSockets.WebSocket socket)
    {
        var buffer = new byte[4096];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        return System.Text.Encoding.UTF8.GetString(buffer, 0, result.Count);
    }

    [Test]
    public void A_parameter_that_cannot_be_bound_is_refused_when_the_app_starts_with_the_same_message()
    {
        var app = TestApps.Quiet();
        app.Get("/x", (Request req, Response res, Greeter greeter) => res.Text = greeter.Greet("x"));

        FluentActions.Invoking(() => app.CreateClient()).Should().Throw<ArgumentException>()
            .WithMessage("The handler for '/x': parameter 'greeter' (Greeter) is not in the pattern and is not a provided service.*");
    }
}
