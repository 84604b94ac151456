using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using Bocata.Testing;
using Bocata.Tests.Testing;
using Chatbot;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Examples;

/// <summary>Bocadillo's tutorial chatbot and its JSON validation example, ported as Examples/Chatbot and Examples/JsonValidation,
/// with Bocadillo's own tests (docs/guide/tutorial/tests, test_json_validation_example.py) over real sockets.</summary>
public class TutorialExamplesTests
{
    private sealed class EchoDiego : IChatBot
    {
        public string GetResponse(string message) => message;
    }

    private static async Task<string> ReceiveTextAsync(System.Net.WebSockets.WebSocket socket)
    {
        var buffer = new byte[4096];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        return Encoding.UTF8.GetString(buffer, 0, result.Count);
    }

    [Test]
    public async Task Chatbot_connect_and_converse()
    {
        await using var client = ChatbotApp.Create(new EchoDiego(), s => s.AccessLog = false).CreateClient();
        using var ws = await client.WebSocketConnectAsync("/conversation");

        await ws.SendAsync("Hello!"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);

        (await ReceiveTextAsync(ws)).Should().Be("Hello!");
    }

    [Test]
    public async Task Chatbot_client_count()
    {
        await using var client = ChatbotApp.Create(new EchoDiego(), s => s.AccessLog = false).CreateClient();
        (await client.GetStringAsync("/client-count")).Should().Be("""{"count":0}""");

        using (var ws = await client.WebSocketConnectAsync("/conversation"))
        {
            await ws.SendAsync("hi"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
            await ReceiveTextAsync(ws);
            (await client.GetStringAsync("/client-count")).Should().Be("""{"count":1}""");
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        var count = "";
        while (DateTime.UtcNow < deadline && (count = await client.GetStringAsync("/client-count")) != """{"count":0}""") await Task.Delay(20);
        count.Should().Be("""{"count":0}""");
    }

    [Test]
    public async Task Chatbot_runs_as_its_own_process_with_diego()
    {
        await using var example = await ExampleProcess.StartAsync("Chatbot");
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri(example.Url.Replace("http", "ws", StringComparison.Ordinal) + "/conversation"), CancellationToken.None);

        await ws.SendAsync("Hello there"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);

        (await ReceiveTextAsync(ws)).Should().Be("Hello! I'm Diego. How are you?");
    }

    [Test]
    public async Task Json_validation_todos()
    {
        await using var example = await ExampleProcess.StartAsync("JsonValidation");
        using var client = new HttpClient { BaseAddress = new Uri(example.Url) };

        var r = await client.PostAsJsonAsync("/todos", new { title = "Make breakfast" });
        r.StatusCode.Should().Be(HttpStatusCode.Created);
        (await r.Content.ReadAsStringAsync()).Should().Be("""{"title":"Make breakfast","done":false}""");

        r = await client.PostAsJsonAsync("/todos", new { title = "Buy cornflakes at the store and make breakfast" });
        r.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await r.JsonAsync()).GetProperty("detail").GetProperty("title").GetString().Should().Be("Must have no more than 20 characters.");
    }
}
