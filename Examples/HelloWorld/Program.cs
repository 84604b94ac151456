using System.ComponentModel.DataAnnotations;
using Bocata;

var app = new App();

app.Route("/", (req, res) => res.Text = "Hello, World!");

// Inputs are bounded: an example is code people copy, and `?times=1000000000` must be a 400, not gigabytes.
app.Route("/greet/{name}", (Request req, Response res, [StringLength(100)] string name, [Range(1, 100)] int times = 1) =>
    res.Json = new { greeting = string.Concat(Enumerable.Repeat($"Hello, {name}! ", times)).Trim() });

app.Run();
