using System.Collections.Concurrent;
using System.Text.Json;

namespace Bocata.Tests.OpenApi;

/// <summary>The app behind <c>Fixtures/items.openapi.json</c>: the hand-written OpenAPI 3.2.0 document served at /openapi.json
/// (until <c>app.OpenApi</c> generates one), real handlers for each of its operations, and the /docs page that renders it.</summary>
internal static class ItemsDocsApp
{
    public const string Title = "Items <API> & \"co\"";

    public static string FixturePath => Path.Combine(TestApps.Root, "Framework.Tests", "OpenApi", "Fixtures", "items.openapi.json");

    public static string Document => File.ReadAllText(FixturePath);

    public static App Create(Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(configure);
        var hub = new EventHub();
        var items = new ConcurrentDictionary<int, Item>();
        var next = 0;
        var document = File.ReadAllBytes(FixturePath);

        app.Get("/openapi.json", (req, res) =>
        {
            res.Headers["Content-Type"] = "application/json";
            res.Content = document;
        });
        app.Get("/items", (req, res) =>
        {
            var limit = int.TryParse(req.QueryParams["limit"], out var l) ? l : 10;
            res.Json = items.Values.OrderBy(i => i.Id).Take(limit).ToArray();
        });
        app.Post("/items", async (req, res) =>
        {
            var input = await req.JsonAsync<NewItem>();
            var item = new Item(Interlocked.Increment(ref next), input.Name, input.Note, DateTimeOffset.UtcNow);
            items[item.Id] = item;
            hub.Publish(new ServerEvent(name: "created", data: JsonSerializer.Serialize(new { item }, JsonSerializerOptions.Web)));
            res.StatusCode = 201;
            res.Json = item;
        });
        // Before /items/{pk}, which would match it: routes match in registration order.
        app.Get("/items/events", (req, res) => res.EventStream(hub.Subscribe(req)));
        app.Get("/items/{pk}", (req, res) =>
        {
            res.Json = items.TryGetValue(Pk(req), out var item) ? item : throw new HttpError(404, detail: "No item has this number.");
        });
        app.Delete("/items/{pk}", (req, res) =>
        {
            if (req.Headers["Authorization"] is not { } auth || !auth.StartsWith("Bearer ", StringComparison.Ordinal)) throw new HttpError(401);
            var pk = Pk(req);
            if (items.TryRemove(pk, out _)) hub.Publish(new ServerEvent(name: "deleted", data: $"{{\"id\":{pk}}}"));
            res.StatusCode = 204;
        });
        DocsPage.Map(app, "/docs", "/openapi.json", Title);
        return app;
    }

    private static int Pk(Request req) =>
        int.TryParse(req.PathParams["pk"], out var pk) ? pk : throw new HttpError(400, detail: "pk must be an integer.");

    internal sealed record NewItem
    {
        public required string Name { get; init; }
        public string? Note { get; init; }
    }

    internal sealed record Item(int Id, string Name, string? Note, DateTimeOffset Created);
}
