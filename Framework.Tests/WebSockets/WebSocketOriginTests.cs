using System.Net.WebSockets;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.WebSockets;

/// <summary>Cross-site WebSocket hijacking: a page of another origin cannot open the app's WebSockets with the user's cookies.</summary>
public class WebSocketOriginTests
{
    private static async Task<bool> ConnectsAsync(TestClient client, string? origin)
    {
        using var socket = new ClientWebSocket();
        if (origin is not null) socket.Options.SetRequestHeader("Origin", origin);
        try
        {
            await socket.ConnectAsync(new Uri($"ws://{client.BaseAddress!.Authority}/ws"), CancellationToken.None);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return true;
        }
        catch (WebSocketException e)
        {
            TestContext.Out.WriteLine($"{origin}: {e.Message}");
            return false;
        }
    }

    private static App EchoApp(Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(configure);
        app.WebSocketRoute("/ws", async ws =>
        {
            await foreach (var message in ws) await ws.SendTextAsync($"{message}");
        });
        return app;
    }

    [Test]
    public async Task Another_origins_handshake_is_refused_and_the_apps_own_origin_or_no_origin_is_accepted()
    {
        await using var client = EchoApp().CreateClient();
        (await ConnectsAsync(client, "https://evil.example")).Should().BeFalse("another site's page");
        (await ConnectsAsync(client, $"http://{client.BaseAddress!.Authority}")).Should().BeTrue("the app's own page");
        (await ConnectsAsync(client, null)).Should().BeTrue("not a browser: no Origin");

        var refused = await client.GetAsync("/ws", HttpCompletionOption.ResponseHeadersRead);
        refused.StatusCode.Should().Be(System.Net.HttpStatusCode.UpgradeRequired, "a plain GET still gets 426");
    }

    [Test]
    public async Task Origins_can_be_allowed_by_setting_or_through_the_cors_origins()
    {
        await using var listed = EchoApp(s => s.WebSocketOrigins = ["https://app.example"]).CreateClient();
        (await ConnectsAsync(listed, "https://app.example")).Should().BeTrue();
        (await ConnectsAsync(listed, "https://evil.example")).Should().BeFalse();

        await using var cors = EchoApp(s => s.Cors = new CorsSettings { AllowOrigins = ["https://spa.example"] }).CreateClient();
        (await ConnectsAsync(cors, "https://spa.example")).Should().BeTrue();
        (await ConnectsAsync(cors, "https://evil.example")).Should().BeFalse();
    }
}
