// Per-user notifications and chat rooms on ONE EventSource: a hub of topics. Sign in (a name and a password; a cookie
// session), join rooms,
// and the page reads `users/<you>` and every room you joined on one stream; Authorize keeps each user to their own feed
// and the rooms they joined. Run: dotnet run --project Examples/Notifications, open http://127.0.0.1:8000 in two windows.
using Bocata;

var app = new App();
app.Configure(s =>
{
    s.Sessions = true;
    // A real app reads SECRET_KEY from its environment; without it, this example signs with a random secret per run.
    s.SecretKey = Environment.GetEnvironmentVariable("SECRET_KEY") ?? RandomSecret();
});

// GET /openapi.json describes the routes (the event stream's events included) and GET /docs renders it.
app.OpenApi(title: "Notifications", version: "1.0");

var hub = new EventHub(replay: 100)
{
    // Asked for every topic of a stream before its headers go out: your own feed, and rooms you joined.
    Authorize = (req, topic) => req.Session.Get<string>("user") is { } user
        && (topic == $"users/{user}" || (topic.StartsWith("rooms/", StringComparison.Ordinal) && Rooms(req).Contains(topic[6..]))),
};

static List<string> Rooms(Request req) => req.Session.Get<List<string>>("rooms") ?? [];

static string CurrentUser(Request req) => req.Session.Get<string>("user") ?? throw new HttpError(401, "Sign in first: POST /login with {\"user\": \"alice\", \"password\": \"...\"}.");

static string CheckName(string? value, string what) =>
    value is { Length: > 0 and <= 32 } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
        ? value
        : throw new HttpError(400, $"A {what} is 1 to 32 letters, digits, '-' or '_'.");

// Accounts: the first sign-in of a name sets its password; later sign-ins must give it. Only the PBKDF2 hash (with a salt)
// is kept, compared in fixed time. A production app keeps accounts in a database, lets users reset a password, and
// checks passwords against breached lists; this one forgets them when it stops.
var accounts = new System.Collections.Concurrent.ConcurrentDictionary<string, (byte[] Salt, byte[] Hash)>(StringComparer.Ordinal);

app.Post("/login", async (req, res) =>
{
    var body = await req.JsonAsync<Login>();
    var user = CheckName(body.User, "user name");
    if (body.Password is not { Length: >= 8 and <= 128 } password) throw new HttpError(400, "A password is 8 to 128 characters.");
    var salt = System.Security.Cryptography.RandomNumberGenerator.GetBytes(16);
    var account = accounts.GetOrAdd(user, _ => (salt, Hash(password, salt)));
    if (!System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(account.Hash, Hash(password, account.Salt)))
        throw new HttpError(401, "Wrong user name or password.");
    req.Session.Set("user", user);
    req.Session.Set("rooms", new List<string> { "lobby" });
    res.Json = new { user, rooms = Rooms(req) };
}).RateLimit(10, TimeSpan.FromMinutes(1)); // guessing passwords costs a minute per ten tries

static byte[] Hash(string password, byte[] salt) =>
    System.Security.Cryptography.Rfc2898DeriveBytes.Pbkdf2(password, salt, 100_000, System.Security.Cryptography.HashAlgorithmName.SHA256, 32);

app.Post("/logout", (req, res) =>
{
    req.Session.Clear();
    res.StatusCode = 204;
});

app.Get("/me", (req, res) => res.Json = new { user = CurrentUser(req), rooms = Rooms(req) });

app.Post("/rooms/{room}/join", (Request req, Response res, string room) =>
{
    CurrentUser(req);
    var rooms = Rooms(req);
    if (!rooms.Contains(CheckName(room, "room"))) rooms.Add(room);
    req.Session.Set("rooms", rooms);
    res.Json = new { rooms };
});

app.Post("/rooms/{room}/messages", async (Request req, Response res, string room) =>
{
    var user = CurrentUser(req);
    if (!Rooms(req).Contains(room)) throw new HttpError(403, $"Join room '{room}' first.");
    var text = (await req.JsonAsync<Message>()).Text;
    if (string.IsNullOrWhiteSpace(text) || text.Length > 2000) throw new HttpError(400, "A message is 1 to 2000 characters.");
    var published = await hub.PublishAsync($"rooms/{room}", new ServerEvent(name: "message", json: new RoomMessage(room, user, text)));
    res.StatusCode = 201;
    res.Json = new { id = published.Id };
});

app.Post("/users/{to}/notify", async (Request req, Response res, string to) =>
{
    var from = CurrentUser(req);
    var text = (await req.JsonAsync<Message>()).Text;
    if (string.IsNullOrWhiteSpace(text) || text.Length > 2000) throw new HttpError(400, "A notification is 1 to 2000 characters.");
    var published = await hub.PublishAsync($"users/{CheckName(to, "user name")}", new ServerEvent(name: "notification", json: new Notification(from, text)));
    res.StatusCode = 201;
    res.Json = new { id = published.Id };
});

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
    Console.WriteLine("SECRET_KEY is not set: sessions are signed with a random secret for this run (they end when it stops; set SECRET_KEY to keep them).");
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
