using System.Net;
using System.Net.WebSockets;
using System.Text;
using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.WebSockets;

/// <summary>Bocadillo fidelity: typed route and query parameters and providers on WebSocket routes (a value that does not
/// convert refuses the handshake with 403), and the event value type.</summary>
public class TypedWebSocketTests
{
    public sealed class Greeter
    {
        public string Greet(string name) => $"hello {name}";
    }

    private static async Task<string> ReceiveTextAsync(System.Net.WebSockets.WebSocket socket)
    {
        var buffer = new byte[4096];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        return result.MessageType == WebSocketMessageType.Close ? $"<close {(int?)result.CloseStatus}>" : Encoding.UTF8.GetString(buffer, 0, result.Count);
    }

    private static App TypedApp()
    {
        var app = TestApps.Quiet();
        app.Provide(() => new Greeter(), ProviderScope.App);
        app.WebSocketRoute("/rooms/{room}", async (WebSocket ws, int room, Greeter greeter, [System.ComponentModel.DataAnnotations.Range(1, 10)] int size = 2) =>
        {
            await ws.SendTextAsync($"{greeter.Greet(ws.QueryParams["user"] ?? "?")} in room {room} of {size}");
        });
        return app;
    }

    [Test]
    public async Task Route_and_query_parameters_and_providers_reach_a_websocket_handler()
    {
        await using var client = TypedApp().CreateClient();
        using var socket = await client.WebSocketConnectAsync("/rooms/7?user=ana&size=4");

        (await ReceiveTextAsync(socket)).Should().Be("hello ana in room 7 of 4");
    }

    [TestCase("/rooms/seven")]
    [TestCase("/rooms/7?size=99")]
    public async Task A_parameter_that_does_not_convert_or_validate_refuses_the_handshake_with_403(string target)
    {
        await using var client = TypedApp().CreateClient();

        var raw = await RawHttp.SendAsync(client.BaseAddress!, $"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .Replace("Connection: Upgrade", "Connection: close, Upgrade", StringComparison.Ordinal));

        raw.Should().StartWith("HTTP/1.1 403 ");
    }

    [Test]
    public void A_websocket_handler_must_take_the_websocket_first()
    {
        var app = new App();
        app.WebSocketRoute("/bad/{id}", (int id, WebSocket ws) => Task.CompletedTask);
        FluentActions.Invoking(() => app.CreateClient()).Should().Throw<ArgumentException>().WithMessage("*must take (WebSocket ws) first*");
    }

    [Test]
    public async Task The_event_value_type_yields_raw_events_and_ends_with_the_disconnect()
    {
        var events = new List<WebSocketEvent>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var app = TestApps.Quiet();
        app.WebSocketRoute("/events", async ws =>
        {
            await foreach (var e in ws) events.Add((WebSocketEvent)e);
            done.SetResult();
        }, valueType: "event");
        app.WebSocketRoute("/send", async ws =>
        {
            await ws.SendEventAsync(new WebSocketEvent(WebSocketEvent.Send, Text: "hi"));
            await ws.SendEventAsync(new WebSocketEvent(WebSocketEvent.Close, Code: 1000));
        });
        await using var client = app.CreateClient();

        using (var socket = await client.WebSocketConnectAsync("/events"))
        {
            await socket.SendAsync("text"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            await socket.SendAsync(new byte[] { 1, 2 }, WebSocketMessageType.Binary, true, CancellationToken.None);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        events.Select(e => (e.Type, e.Text, e.Bytes?.Length, e.Code)).Should().Equal(
            ("websocket.receive", "text", (int?)null, (int?)null),
            ("websocket.receive", (string?)null, 2, (int?)null),
            ("websocket.disconnect", (string?)null, (int?)null, 1000));

        using var sender = await client.WebSocketConnectAsync("/send");
        (await ReceiveTextAsync(sender)).Should().Be("hi");
        (await ReceiveTextAsync(sender)).Should().Be("<close 1000>");
    }
}
