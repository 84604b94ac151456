using Bocata;

namespace Chatbot;

/// <summary>The chatbot server, built by one factory for Program.cs and the tests (which provide an echoing bot).</summary>
public static class ChatbotApp
{
    public static App Create(IChatBot? bot = null, Action<Settings>? configure = null)
    {
        var app = new App();
        if (configure is not null) app.Configure(configure);

        // Bocadillo's providers: `diego` (the bot) and `clients` (who is connected), both app-wide.
        app.Provide<IChatBot>(() => bot ?? new Diego(), ProviderScope.App);
        app.Provide(() => new WebSocketGroup(), ProviderScope.App);

        app.WebSocketRoute("/conversation", async (WebSocket ws, IChatBot diego, WebSocketGroup clients) =>
        {
            using var saved = clients.Add(ws);   // Bocadillo's save_client: counted while the conversation lasts
            await foreach (var message in ws)
                await ws.SendTextAsync(diego.GetResponse((string)message));
        });

        app.Route("/client-count", (Request req, Response res, WebSocketGroup clients) => res.Json = new { count = clients.Count });

        return app;
    }
}

/// <summary>What a chatbot does: answer a message.</summary>
public interface IChatBot
{
    string GetResponse(string message);
}

/// <summary>Diego, a small rule-based bot (Bocadillo's tutorial trains ChatterBot on greetings and conversations).</summary>
public sealed class Diego : IChatBot
{
    private static readonly (string[] Keys, string Answer)[] Rules =
    [
        (["hello", "hi", "hey", "hola"], "Hello! I'm Diego. How are you?"),
        (["how are you"], "I'm doing great, thanks for asking."),
        (["good", "great", "fine"], "Glad to hear it!"),
        (["your name", "who are you"], "I'm Diego, a Bocata chatbot."),
        (["bye", "goodbye", "see you"], "Goodbye! Come back soon."),
        (["thank"], "You're welcome."),
    ];

    public string GetResponse(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var text = message.ToLowerInvariant();
        foreach (var (keys, answer) in Rules)
            if (keys.Any(k => text.Contains(k, StringComparison.Ordinal))) return answer;
        return "Tell me more.";
    }
}
