// Per-user notifications and chat rooms on ONE EventSource: a hub of topics. Sign in (a name and a password: the page gets a
// cookie from /login, an API client a JWT from /token — see bearer-client.sh), join rooms, and read `users/<you>` and every
// room you joined on one stream; Authorize keeps each user to their own feed and the rooms they joined.
// Run: dotnet run --project Examples/Notifications, open http://127.0.0.1:8000 in two windows.
using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using Bocata;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

var app = new App();
// A real app reads SECRET_KEY from its environment; without it, this example signs with a random secret per run.
var secret = Environment.GetEnvironmentVariable("SECRET_KEY") ?? RandomSecret();
// API clients get a JWT from POST /token, signed with a key derived from SECRET_KEY (never the secret itself).
var tokenKey = new SymmetricSecurityKey(HKDF.DeriveKey(HashAlgorithmName.SHA256, System.Text.Encoding.UTF8.GetBytes(secret), 32, info: "notifications api tokens"u8.ToArray()));
app.Configure(s =>
{
    s.SecretKey = secret;
    s.AuthCookie = true;   // the page: res.SignIn sets a sealed, HttpOnly cookie
    s.Jwt = new TokenValidationParameters { ValidIssuer = "notifications", ValidAudience = "notifications", IssuerSigningKey = tokenKey };
});

// The rooms each user joined (kept here, so a cookie-signed page and a token-signed client of one user agree).
var joined = new ConcurrentDictionary<string, HashSet<string>>(StringComparer.Ordinal);
List<string> Rooms(string user)
{
    var rooms = joined.GetOrAdd(user, _ => new HashSet<string>(StringComparer.Ordinal) { "lobby" });
    lock (rooms) return [.. rooms.Order(StringComparer.Ordinal)];
}

// GET /openapi.json describes the routes (the event stream's events included) and GET /docs renders it.
app.OpenApi(title: "Notifications", version: "1.0");

var hub = new EventHub(replay: 100)
{
    // Asked for every topic of a stream before its headers go out: your own feed, and rooms you joined.
    Authorize = (req, topic) => req.User.Identity?.Name is { } user
        && (topic == $"users/{user}" || (topic.StartsWith("rooms/", StringComparison.Ordinal) && Rooms(user).Contains(topic[6..]))),
};

static string CurrentUser(Request req) => req.User.Identity!.Name!;

static string CheckName(string? value, string what) =>
    value is { Length: > 0 and <= 32 } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
        ? value
        : throw new HttpError(400, $"A {what} is 1 to 32 letters, digits, '-' or '_'.");

// Accounts: the first sign-in of a name sets its password; later sign-ins must give it. Only the PBKDF2 hash (with a salt)
// is kept, compared in fixed time. A production app keeps accounts in a database, lets users reset a password, and
// checks passwords against breached lists; this one forgets them when it stops.
var accounts = new ConcurrentDictionary<string, (byte[] Salt, byte[] Hash)>(StringComparer.Ordinal);

string CheckPassword(Login body)
{
    var user = CheckName(body.User, "user name");
    if (body.Password is not { Length: >= 8 and <= 128 } password) throw new HttpError(400, "A password is 8 to 128 characters.");
    var salt = RandomNumberGenerator.GetBytes(16);
    var account = accounts.GetOrAdd(user, _ => (salt, Hash(password, salt)));
    if (!CryptographicOperations.FixedTimeEquals(account.Hash, Hash(password, account.Salt)))
        throw new HttpError(401, "Wrong user name or password.");
    return user;
}

static byte[] Hash(string password, byte[] salt) =>
    Rfc2898DeriveBytes.Pbkdf2(password, salt, 100_000, HashAlgorithmName.SHA256, 32);

// The page signs in with a cookie...
app.Post("/login", async (req, res) =>
{
    var user = CheckPassword(await req.JsonAsync<Login>());
    res.SignIn(new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "password")));
    res.Json = new { user, rooms = Rooms(user) };
}).RateLimit(10, TimeSpan.FromMinutes(1)); // guessing passwords costs a minute per ten tries

// ...an API client (bearer-client.sh, a mobile app) gets a token for 15 minutes and sends it as Authorization: Bearer.
app.Post("/token", async (req, res) =>
{
    var user = CheckPassword(await req.JsonAsync<Login>());
    var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = "notifications",
        Audience = "notifications",
        Subject = new ClaimsIdentity([new Claim("sub", user)]),
        Expires = DateTime.UtcNow.AddMinutes(15),
        SigningCredentials = new SigningCredentials(tokenKey, SecurityAlgorithms.HmacSha256),
    });
    res.Json = new { access_token = token, token_type = "Bearer", expires_in = 900 };
}).RateLimit(10, TimeSpan.FromMinutes(1));

app.Post("/logout", (req, res) =>
{
    res.SignOut();
    res.StatusCode = 204;
});

app.Get("/me", (req, res) => res.Json = new { user = CurrentUser(req), rooms = Rooms(CurrentUser(req)) }).Requires("authenticated");

app.Post("/rooms/{room}/join", (Request req, Response res, string room) =>
{
    var rooms = joined.GetOrAdd(CurrentUser(req), _ => new HashSet<string>(StringComparer.Ordinal) { "lobby" });
    lock (rooms)
    {
        if (rooms.Count >= 50 && !rooms.Contains(room)) throw new HttpError(400, "A user joins at most 50 rooms.");
        rooms.Add(CheckName(room, "room"));
    }
    res.Json = new { rooms = Rooms(CurrentUser(req)) };
}).Requires("authenticated");

app.Post("/rooms/{room}/messages", async (Request req, Response res, string room) =>
{
    var user = CurrentUser(req);
    if (!Rooms(user).Contains(room)) throw new HttpError(403, $"Join room '{room}' first.");
    var text = (await req.JsonAsync<Message>()).Text;
    if (string.IsNullOrWhiteSpace(text) || text.Length > 2000) throw new HttpError(400, "A message is 1 to 2000 characters.");
    var published = await hub.PublishAsync($"rooms/{room}", new ServerEvent(name: "message", json: new RoomMessage(room, user, text)));
    res.StatusCode = 201;
    res.Json = new { id = published.Id };
}).Requires("authenticated").RateLimit(60, TimeSpan.FromMinutes(1));

app.Post("/users/{to}/notify", async (Request req, Response res, string to) =>
{
    var from = CurrentUser(req);
    var text = (await req.JsonAsync<Message>()).Text;
    if (string.IsNullOrWhiteSpace(text) || text.Length > 2000) throw new HttpError(400, "A notification is 1 to 2000 characters.");
    var published = await hub.PublishAsync($"users/{CheckName(to, "user name")}", new ServerEvent(name: "notification", json: new Notification(from, text)));
    res.StatusCode = 201;
    res.Json = new { id = published.Id };
}).Requires("authenticated").RateLimit(60, TimeSpan.FromMinutes(1));

// One stream of several topics: GET /events?topic=users/alice&topic=rooms/lobby. Each is authorized before any header.
app.Get("/events", (req, res) => res.EventStream(hub.Subscribe(req, [.. req.QueryParams.GetAll("topic")])))
    .Summary("Your notifications and your rooms' messages, on one stream")
    .Description("`?topic=users/<you>&topic=rooms/<room>`, repeated; resume with `Last-Event-ID`.")
    .Events<RoomMessage>("message").Events<Notification>("notification");

app.Route("/", (req, res) => res.File("wwwroot/index.html", attach: false));
app.Mount("/assets", Static.Files("wwwroot"));

app.Run();

/// <summary>No SECRET_KEY: a random secret for this run, said out loud (a published fallback would let anyone forge sessions).</summary>
static string RandomSecret()
{
    Console.WriteLine("SECRET_KEY is not set: sign-ins and tokens are sealed with a random secret for this run (they end when it stops; set SECRET_KEY to keep them).");
    return Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
}


/// <summary>POST /login's body.</summary>
internal sealed record Login(string? User, string? Password);

/// <summary>A room message or a notification, as posted.</summary>
internal sealed record Message(string? Text);

/// <summary>A message in a room, as its subscribers receive it (event "message").</summary>
internal sealed record RoomMessage(string Room, string User, string Text);

/// <summary>A notification, as its user receives it (event "notification").</summary>
internal sealed record Notification(string From, string Text);

/// <summary>The JSON this app reads, for Native AOT: Bocata registers the project's contexts when it publishes AOT (a
/// JIT-compiled run does not need it).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(Login))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Message))]
[System.Text.Json.Serialization.JsonSerializable(typeof(RoomMessage))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Notification))]
internal sealed partial class NotificationsJson : System.Text.Json.Serialization.JsonSerializerContext;
