// Templates and sessions: a greeting page rendered from templates/index.html that counts your visits.
using System.ComponentModel.DataAnnotations;
using Bocata;

var app = new App();
app.Configure(s =>
{
    s.Sessions = true;
    // A real app reads SECRET_KEY from its environment; this default only keeps the example runnable.
    s.SecretKey = Environment.GetEnvironmentVariable("SECRET_KEY") ?? "example-only-secret-change-me-0123456789";
});

// Found under the content root (the build output, where the .csproj copies templates/), whatever the working directory.
var templates = new Templates("templates");

app.Route("/", async (Request req, Response res, [StringLength(100)] string name = "stranger") =>
{
    var visits = req.Session.Get<int>("visits") + 1;
    req.Session.Set("visits", visits);
    res.Html = await templates.RenderAsync("index.html", new { name, visits });
});

app.Run();
