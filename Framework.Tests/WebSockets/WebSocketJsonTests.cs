using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.WebSockets;

/// <summary><c>ws.ReceiveJsonAsync&lt;T&gt;()</c> validates a message as <c>req.JsonAsync&lt;T&gt;()</c> validates a body, and
/// <see cref="Validation"/> gives the same checks for any object.</summary>
public class WebSocketJsonTests
{
    public sealed class Bid
    {
        [System.ComponentModel.DataAnnotations.Range(1, 1000)]
        public int Amount { get; set; }

        [RegularExpression("^[a-z]+$")]
        public string Bidder { get; set; } = "";
    }

    private static async Task SendAsync(ClientWebSocket socket, string text) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task<string> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[4096];
        var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        return Encoding.UTF8.GetString(buffer, 0, received.Count);
    }

    [Test]
    public async Task An_invalid_message_is_an_exception_the_handler_answers_with_the_detail_a_body_gets()
    {
        var app = TestApps.Quiet();
        app.Post("/bids", async (req, res) => res.Json = await req.JsonAsync<Bid>());
        app.WebSocketRoute("/bids", async ws =>
        {
            while (true)
            {
                try
                {
                    var bid = await ws.ReceiveJsonAsync<Bid>();
                    await ws.SendTextAsync($"accepted {bid.Amount} from {bid.Bidder}");
                }
                catch (WebSocketJsonException e)
                {
                    await ws.SendJsonAsync(new { error = e.Detail });
                }
            }
        });
        await using var client = app.CreateClient();
        using var socket = await client.WebSocketConnectAsync("/bids");

        const string invalid = """{"amount": 0, "bidder": "Eve!"}""";
        using var body = await client.PostAsync("/bids", new StringContent(invalid, Encoding.UTF8, "application/json"));
        body.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var bodyDetail = (await body.JsonAsync()).GetProperty("detail");
        bodyDetail.GetProperty("bidder").GetString().Should().Be("Must match the pattern /^[a-z]+$/.");

        await SendAsync(socket, invalid);
        using (var answer = JsonDocument.Parse(await ReceiveAsync(socket)))
            answer.RootElement.GetProperty("error").GetRawText().Should().Be(bodyDetail.GetRawText(), "the same members and messages as the body's 400");

        await SendAsync(socket, "{\"amount\": ");
        (await ReceiveAsync(socket)).Should().Be("""{"error":"JSON is malformed."}""");
        await SendAsync(socket, """{"amount": "ten"}""");
        (await ReceiveAsync(socket)).Should().Be("""{"error":"JSON does not fit: $.amount: expected an integer."}""");

        await SendAsync(socket, """{"amount": 10, "bidder": "eve"}""");
        (await ReceiveAsync(socket)).Should().Be("accepted 10 from eve", "the connection stayed open");
    }

    [Test]
    public async Task An_invalid_message_the_handler_does_not_catch_closes_with_1003_and_the_reason()
    {
        var app = TestApps.Quiet();
        app.WebSocketRoute("/bids", async ws => await ws.SendTextAsync($"{(await ws.ReceiveJsonAsync<Bid>()).Amount}"));
        await using var client = app.CreateClient();

        using var socket = await client.WebSocketConnectAsync("/bids");
        await SendAsync(socket, """{"amount": 5000, "bidder": "eve"}""");
        var received = await socket.ReceiveAsync(new byte[256], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        received.MessageType.Should().Be(WebSocketMessageType.Close);
        socket.CloseStatus.Should().Be(WebSocketCloseStatus.InvalidMessageType, "1003");
        socket.CloseStatusDescription.Should().Be("amount: Must be less than or equal to 1000.");

        using var malformed = await client.WebSocketConnectAsync("/bids");
        await SendAsync(malformed, "not json");
        await malformed.ReceiveAsync(new byte[256], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        malformed.CloseStatus.Should().Be(WebSocketCloseStatus.InvalidMessageType);
        malformed.CloseStatusDescription.Should().Be("JSON is malformed.");
    }

    [Test]
    public void A_long_reason_is_cut_to_what_a_close_frame_holds()
    {
        var reason = WebSocketEndpoint.CloseReason(new Dictionary<string, string> { ["name"] = new string('é', 200) });
        Encoding.UTF8.GetByteCount(reason).Should().BeLessThanOrEqualTo(123);
        reason.Should().StartWith("name: éé").And.EndWith("…");
    }

    [Test]
    public async Task Validation_checks_any_object_with_the_words_a_body_gets()
    {
        var invalid = new Bid { Amount = 0, Bidder = "Eve!" };
        Validation.Errors(invalid).Should().BeEquivalentTo(new Dictionary<string, string>
        {
            ["amount"] = "Must be greater than or equal to 1.",
            ["bidder"] = "Must match the pattern /^[a-z]+$/.",
        });
        Validation.Errors(new Bid { Amount = 5, Bidder = "eve" }).Should().BeEmpty();
        FluentActions.Invoking(() => Validation.Errors<object>(invalid)).Should().Throw<ArgumentException>().WithMessage("*call it with a Bid*");

        var app = TestApps.Quiet();
        app.Get("/check", (req, res) =>
        {
            Validation.Check(new Bid { Amount = int.Parse(req.QueryParams["amount"] ?? "0"), Bidder = "eve" });
            res.Text = "valid";
        });
        await using var client = app.CreateClient();
        (await client.GetStringAsync("/check?amount=3")).Should().Be("valid");
        using var refused = await client.GetAsync("/check?amount=0");
        refused.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetProperty("amount").GetString()
            .Should().Be("Must be greater than or equal to 1.");
    }
}
