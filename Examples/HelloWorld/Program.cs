using Bocata;

var app = new App();

app.Route("/", (req, res) => res.Text = "Hello, World!");

app.Route("/greet/{name}", (Request req, Response res, string name, int times = 1) =>
    res.Json = new { greeting = string.Concat(Enumerable.Repeat($"Hello, {name}! ", times)).Trim() });

app.Run();
