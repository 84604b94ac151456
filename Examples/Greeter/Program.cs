// Templates and sessions: a greeting page rendered from templates/index.html that counts your visits.
using System.ComponentModel.DataAnnotations;
using Bocata;

var app = new App();
app.Configure(s =>
{
    s.Sessions = true;
    // A real app reads SECRET_KEY from its environment; without it, this example signs with a random secret per run.
    s.SecretKey = Environment.GetEnvironmentVariable("SECRET_KEY") ?? RandomSecret();
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

/// <summary>No SECRET_KEY: a random secret for this run, said out loud (a published fallback would let anyone forge sessions).</summary>
static string RandomSecret()
{
    Console.WriteLine("SECRET_KEY is not set: sessions are signed with a random secret for this run (they end when it stops; set SECRET_KEY to keep them).");
    return Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
}

