// A chat room over Server-Sent Events: POST /messages publishes to an EventHub, GET /messages streams it.
// A browser that reconnects sends Last-Event-ID and the hub replays what it missed.
using Bocata;

var app = new App();
var hub = new EventHub(replay: 1000);

app.Post("/messages", async (req, res) =>
{
    var message = await req.JsonAsync<ChatMessage>();
    if (string.IsNullOrWhiteSpace(message.Author) || string.IsNullOrWhiteSpace(message.Text))
        throw new HttpError(400, "A message needs an author and a text.");
    if (message.Text.Length > 2000 || message.Author.Length > 50)
        throw new HttpError(413, "A message is at most 2000 characters, an author name at most 50.");
    // PublishAsync works on every hub, including one shared across instances (see docs/guide/scaling.md).
    var published = await hub.PublishAsync(new ServerEvent(name: "message", json: message));
    res.StatusCode = 201;
    res.Json = new { id = published.Id };
}).RateLimit(20, TimeSpan.FromMinutes(1));   // per client: past it a 429 with Retry-After, so one client cannot flood the room

app.Get("/messages", (req, res) => res.EventStream(hub.Subscribe(req)));

app.Get("/", (req, res) => res.Html = """
    <!DOCTYPE html>
    <html lang="en">
    <head><meta charset="utf-8"><title>Chat feed</title></head>
    <body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
      <h1>Chat</h1>
      <ul id="messages"></ul>
      <form id="form">
        <input id="author" placeholder="name" required>
        <input id="text" placeholder="message" required size="40">
        <button>Send</button>
      </form>
      <script>
        const list = document.getElementById("messages");
        const source = new EventSource("/messages");
        source.addEventListener("message", (e) => {
          const { author, text } = JSON.parse(e.data);
          const item = document.createElement("li");
          item.textContent = author + ": " + text;
          list.appendChild(item);
        });
        document.getElementById("form").addEventListener("submit", async (e) => {
          e.preventDefault();
          const text = document.getElementById("text");
          await fetch("/messages", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ author: document.getElementById("author").value, text: text.value }),
          });
          text.value = "";
        });
      </script>
    </body>
    </html>
    """);

app.Run();

/// <summary>A chat message as posted and as broadcast.</summary>
internal sealed record ChatMessage(string Author, string Text);

/// <summary>The JSON this app reads and sends, for Native AOT: Bocata registers the project's contexts when it publishes AOT
/// (a JIT-compiled run does not need it).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(ChatMessage))]
internal sealed partial class ChatJson : System.Text.Json.Serialization.JsonSerializerContext;
