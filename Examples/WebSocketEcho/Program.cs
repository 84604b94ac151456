// A WebSocket echo server with a page to try it: type a message, the server sends it back.
using Bocata;

var app = new App();

app.WebSocketRoute("/echo", async ws =>
{
    await foreach (var message in ws)
        await ws.SendTextAsync($"echo: {message}");
});

app.Route("/", (req, res) => res.Html = """
    <!DOCTYPE html>
    <html lang="en">
    <head><meta charset="utf-8"><title>WebSocket echo</title></head>
    <body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
      <form id="form"><input id="text" placeholder="say something" autofocus> <button>Send</button></form>
      <ul id="log"></ul>
      <script>
        const ws = new WebSocket(`ws://${location.host}/echo`);
        const log = (text) => { const li = document.createElement("li"); li.textContent = text; document.getElementById("log").appendChild(li); };
        ws.onmessage = (e) => log(e.data);
        document.getElementById("form").addEventListener("submit", (e) => {
          e.preventDefault();
          const input = document.getElementById("text");
          ws.send(input.value);
          input.value = "";
        });
      </script>
    </body>
    </html>
    """);

app.Run();
