#if (sse)
using System.Runtime.CompilerServices;
#endif
#if (auth)
using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using System.Security.Cryptography;
#endif
#if (aot)
using System.Text.Json.Serialization;
#endif
using Bocata;

namespace BocataApp;

/// <summary>Builds the app: Program.cs runs it, the tests build the very same app.</summary>
public static class AppFactory
{
    public static App Create(Action<Settings>? configure = null)
    {
        var app = new App();
#if (aot || auth)
        app.Configure(s =>
        {
#if (aot)
            // Native AOT serializes JSON through source-generated metadata: every type the app sends or reads is in AppJson.
            s.Json.TypeInfoResolverChain.Insert(0, AppJson.Default);
#endif
#if (auth)
            // The sign-in cookie is sealed with SECRET_KEY (at least 32 characters; the same on every instance). Without one,
            // a random key per run: sign-ins end when the app restarts.
            s.AuthCookie = true;
            s.SecretKey = Environment.GetEnvironmentVariable("SECRET_KEY") ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
#endif
            configure?.Invoke(s);
        });
#else
        if (configure is not null) app.Configure(configure);
#endif

#if (aot)
        app.Route("/hello/{name}", (Request req, Response res, string name) =>
            res.Json = new Hello($"Hello, {name}!"));
#else
        app.Route("/hello/{name}", (Request req, Response res, string name) =>
            res.Json = new { greeting = $"Hello, {name}!" });
#endif
#if (auth)

        // Sign in with a name and a password (checked by Accounts: replace it with your user store). A wrong one is a 401;
        // ten tries a minute per client. The cookie is HttpOnly and SameSite=Lax; it lasts 14 days unless you say otherwise.
        app.Post("/login", async (req, res) =>
        {
            var login = await req.JsonAsync<Login>();
            if (!Accounts.Verify(login.Name, login.Password)) throw new HttpError(401, "Wrong name or password.");
            res.SignIn(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, login.Name)], "password")));
            res.Json = new Me(login.Name);
        }).RateLimit(10, TimeSpan.FromMinutes(1));

        app.Post("/logout", (req, res) =>
        {
            res.SignOut();
            res.StatusCode = 204;
        });

        app.Get("/me", (req, res) => res.Json = new Me(req.User.Identity!.Name!)).Requires("authenticated");
#endif
#if (sse)

        // A Server-Sent Events feed; the page at / draws it with the browser's EventSource. Everything under static/ is
        // served at /static (Bocata's static folder, as Bocadillo's): static/site.css is GET /static/site.css.
#if (auth)
        // Only for signed-in users: without the cookie, 401. The stream ends when the cookie expires; EventSource reconnects.
        app.Route("/feed", (req, res) => res.EventStream(Ticks())).Requires("authenticated");
#else
        app.Route("/feed", (req, res) => res.EventStream(Ticks()));
#endif
        app.Route("/", (req, res) => res.File("static/index.html", attach: false));
#else

        app.Route("/", (req, res) => res.Text = "Hello from Bocata!");
#endif

        return app;
    }
#if (sse)

    private static async IAsyncEnumerable<ServerEvent> Ticks([EnumeratorCancellation] CancellationToken ct = default)
    {
        for (var i = 1; ; i++)
        {
#if (aot)
            yield return new ServerEvent(name: "tick", json: new Tick(i, DateTime.UtcNow));
#else
            yield return new ServerEvent(name: "tick", json: new { count = i, time = DateTime.UtcNow });
#endif
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }
#endif
}
#if (auth)

/// <summary>What POST /login reads; a body that breaks these rules is a 400 naming the field.</summary>
public sealed record Login([property: Required, StringLength(64)] string Name, [property: Required, StringLength(128)] string Password);

public sealed record Me(string Name);

/// <summary>The app's users: one demo account, "demo", whose password is DEMO_PASSWORD (default "change-me-now"). Replace it
/// with your user store; keep only salted password hashes (PBKDF2 here) and compare them in fixed time, as this does.</summary>
public static class Accounts
{
    private static readonly byte[] Salt = RandomNumberGenerator.GetBytes(16);
    private static readonly Dictionary<string, byte[]> Users = new(StringComparer.Ordinal)
    {
        ["demo"] = Hash(Environment.GetEnvironmentVariable("DEMO_PASSWORD") ?? "change-me-now"),
    };

    public static bool Verify(string name, string password)
    {
        var hash = Hash(password);
        // An unknown name costs the same hash as a known one, so timing does not tell which names exist.
        return Users.TryGetValue(name, out var expected) && CryptographicOperations.FixedTimeEquals(hash, expected);
    }

    private static byte[] Hash(string password) => Rfc2898DeriveBytes.Pbkdf2(password, Salt, 100_000, HashAlgorithmName.SHA256, 32);
}
#endif
#if (aot)

public sealed record Hello(string Greeting);
#if (sse)

public sealed record Tick(int Count, DateTime Time);
#endif

[JsonSerializable(typeof(Hello))]
#if (sse)
[JsonSerializable(typeof(Tick))]
#endif
#if (auth)
[JsonSerializable(typeof(Login))]
[JsonSerializable(typeof(Me))]
#endif
internal sealed partial class AppJson : JsonSerializerContext;
#endif
