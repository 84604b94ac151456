using System.Net;
using System.Text;
using System.Text.Json;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.IdentityModel.Tokens;
using NUnit.Framework;

namespace Bocata.Tests.OpenApi;

/// <summary>The document <c>app.OpenApi</c> serves, read from a real server: what the route table says (paths, methods, typed
/// parameters, requirements, routers and mounted apps), what the routes' fluent calls say, caching, and that an independent reader
/// (Microsoft.OpenApi) parses it with no error. One app for the fixture; each test reads the one document.</summary>
public class OpenApiDocumentTests
{
    private App _app = null!;
    private HttpClient _client = null!;
    private JsonElement _document;
    private byte[] _bytes = [];

    public enum Color { Red, Green }

    public sealed record Widget(int Id, string Name);

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _app = TestApps.Quiet(s =>
        {
            s.Jwt = new TokenValidationParameters { ValidIssuer = "https://id.example", ValidAudience = "api", IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes("a-test-signing-key-of-at-least-32-bytes!!")) };
            s.AuthCookie = true;
            s.SecretKey = "openapi-tests-secret-0123456789-abcdefghijklmnop";
        });
        _app.OpenApi(title: "Widgets", version: "2.1");
        _app.Get("/", (req, res) => res.Text = "home");
        _app.Route("/widgets/{pk}", (Request req, Response res, int pk) => res.Json = new Widget(pk, "w"), "GET", "PUT", "HEAD")
            .Summary("A widget").Description("Reads or replaces one widget.").Tags("widgets")
            .Produces<Widget>();
        _app.Get("/search", (Request req, Response res, string q = "", int page = 1, Color color = Color.Red) => res.Text = q);
        _app.Get("/by-id/{id}/at/{when}", (Request req, Response res, Guid id, DateTime when, decimal? price = null) => res.Text = "");
        _app.Get("/files/{rest:path}", (req, res) => res.Text = req.PathParams["rest"]);
        _app.Get("/any/{}/thing", (req, res) => res.Text = "");
        _app.Post("/widgets", (req, res) => res.StatusCode = 201).Accepts<Widget>().Produces<Widget>(201);
        _app.Get("/admin", (req, res) => res.Text = "secret").Requires("admin");
        _app.Get("/me", (req, res) => res.Text = "me").Requires("authenticated");
        _app.Get("/hidden", (req, res) => res.Text = "").ExcludeFromDescription();
        _app.Get("/feed", (req, res) => res.Text = "").Events<Widget>("created").Events<int>("deleted");
        _app.Route("/purge/{pk}", (req, res) => res.Text = "", "PURGE");
        _app.WebSocketRoute("/ws", ws => Task.CompletedTask);
        var router = new Router();
        router.Get("/ping", (req, res) => res.Text = "pong");
        var inner = new Router();
        inner.Get("/deep/{n}", (Request req, Response res, long n) => res.Text = "");
        router.IncludeRouter(inner, prefix: "/inner");
        _app.IncludeRouter(router, prefix: "/api");
        var mounted = new App();
        mounted.Get("/status", (req, res) => res.Text = "ok").Summary("Mounted status");
        _app.Mount("/sub", mounted);
        _client = _app.CreateClient();

        var response = await _client.GetAsync("/openapi.json");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        _bytes = await response.Content.ReadAsByteArrayAsync();
        _document = JsonDocument.Parse(_bytes).RootElement;
    }

    [OneTimeTearDown]
    public void Stop() => _client.Dispose();

    private JsonElement Operation(string path, string method) => _document.GetProperty("paths").GetProperty(path).GetProperty(method);

    private static JsonElement Parameter(JsonElement operation, string name) =>
        operation.GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == name);

    [Test]
    public void The_document_is_openapi_3_2_with_the_title_and_version()
    {
        _document.GetProperty("openapi").GetString().Should().Be("3.2.0");
        _document.GetProperty("info").GetProperty("title").GetString().Should().Be("Widgets");
        _document.GetProperty("info").GetProperty("version").GetString().Should().Be("2.1");
        _document.GetProperty("servers")[0].GetProperty("url").GetString().Should().Be("/", "relative to where the document was fetched (linters require servers)");
    }

    [Test]
    public async Task Microsoft_OpenApi_reads_it_with_no_error()
    {
        using var stream = new MemoryStream(_bytes);
        var result = await Microsoft.OpenApi.OpenApiDocument.LoadAsync(stream, "json");

        result.Diagnostic!.Errors.Should().BeEmpty();
        result.Document!.Paths.Should().ContainKey("/widgets/{pk}");
        result.Document.Paths["/widgets/{pk}"].Operations!.Should().HaveCount(2);
    }

    [Test]
    public void One_operation_per_method_and_head_is_left_out()
    {
        var item = _document.GetProperty("paths").GetProperty("/widgets/{pk}");
        item.EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo("get", "put");
    }

    [Test]
    public void Typed_path_parameters_have_the_schema_of_their_bound_type_and_can_be_refused_with_400()
    {
        var get = Operation("/widgets/{pk}", "get");
        var pk = Parameter(get, "pk");
        pk.GetProperty("in").GetString().Should().Be("path");
        pk.GetProperty("required").GetBoolean().Should().BeTrue();
        pk.GetProperty("schema").GetProperty("type").GetString().Should().Be("integer");
        get.GetProperty("responses").GetProperty("400").GetProperty("content").GetProperty("application/json").GetProperty("schema")
            .GetProperty("$ref").GetString().Should().Be("#/components/schemas/HttpError");

        var byId = Operation("/by-id/{id}/at/{when}", "get");
        Parameter(byId, "id").GetProperty("schema").GetProperty("format").GetString().Should().Be("uuid");
        Parameter(byId, "when").GetProperty("schema").GetProperty("format").GetString().Should().Be("date-time");
        var price = Parameter(byId, "price");
        price.GetProperty("in").GetString().Should().Be("query");
        price.GetProperty("schema").GetProperty("type").EnumerateArray().Select(t => t.GetString()).Should().Equal("number", "null");
    }

    [Test]
    public void Defaulted_parameters_are_optional_query_parameters()
    {
        var search = Operation("/search", "get");
        var names = search.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString());
        names.Should().BeEquivalentTo("q", "page", "color");
        Parameter(search, "page").GetProperty("in").GetString().Should().Be("query");
        Parameter(search, "page").GetProperty("required").GetBoolean().Should().BeFalse();
        Parameter(search, "color").GetProperty("schema").GetProperty("enum").EnumerateArray().Select(e => e.GetString()).Should().Equal("Red", "Green");
        search.GetProperty("responses").TryGetProperty("400", out _).Should().BeTrue("page=abc is refused");
    }

    [Test]
    public void Path_and_anonymous_parameters_are_in_openapi_template_form()
    {
        var paths = _document.GetProperty("paths");
        paths.TryGetProperty("/files/{rest}", out var files).Should().BeTrue();
        Parameter(files.GetProperty("get"), "rest").GetProperty("schema").GetProperty("type").GetString().Should().Be("string");
        files.GetProperty("get").GetProperty("responses").TryGetProperty("400", out _).Should().BeFalse("a string parameter is never refused");
        paths.TryGetProperty("/any/{wildcard1}/thing", out var any).Should().BeTrue();
        Parameter(any.GetProperty("get"), "wildcard1").GetProperty("in").GetString().Should().Be("path");
    }

    [Test]
    public void Summary_description_tags_and_produces_are_written()
    {
        var get = Operation("/widgets/{pk}", "get");
        get.GetProperty("summary").GetString().Should().Be("A widget");
        get.GetProperty("description").GetString().Should().Be("Reads or replaces one widget.");
        get.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).Should().Equal("widgets");
        get.GetProperty("responses").GetProperty("200").GetProperty("content").TryGetProperty("application/json", out _).Should().BeTrue();

        var post = Operation("/widgets", "post");
        post.GetProperty("requestBody").GetProperty("required").GetBoolean().Should().BeTrue();
        post.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _).Should().BeTrue();
        post.GetProperty("responses").TryGetProperty("201", out _).Should().BeTrue();
        post.GetProperty("responses").TryGetProperty("200", out _).Should().BeFalse("Produces<Widget>(201) is the success response");
        post.GetProperty("responses").TryGetProperty("400", out _).Should().BeTrue("a JSON body can be malformed or invalid");
    }

    [Test]
    public void Operation_ids_are_unique_and_stable()
    {
        var ids = _document.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Where(o => o.Value.ValueKind == JsonValueKind.Object && o.Value.TryGetProperty("operationId", out _)))
            .Select(o => o.Value.GetProperty("operationId").GetString()).ToList();
        ids.Should().OnlyHaveUniqueItems();
        Operation("/widgets/{pk}", "get").GetProperty("operationId").GetString().Should().Be("getWidgetsPk");
        Operation("/", "get").GetProperty("operationId").GetString().Should().Be("getRoot");
    }

    [Test]
    public void Requires_adds_security_and_401_403_with_the_configured_schemes()
    {
        var schemes = _document.GetProperty("components").GetProperty("securitySchemes");
        schemes.GetProperty("bearer").GetProperty("type").GetString().Should().Be("http");
        schemes.GetProperty("bearer").GetProperty("scheme").GetString().Should().Be("bearer");
        schemes.GetProperty("bearer").GetProperty("bearerFormat").GetString().Should().Be("JWT");
        schemes.GetProperty("cookie").GetProperty("type").GetString().Should().Be("apiKey");
        schemes.GetProperty("cookie").GetProperty("in").GetString().Should().Be("cookie");

        var admin = Operation("/admin", "get");
        admin.GetProperty("responses").TryGetProperty("401", out _).Should().BeTrue();
        admin.GetProperty("responses").TryGetProperty("403", out _).Should().BeTrue();
        var security = admin.GetProperty("security").EnumerateArray().ToList();
        security.Should().HaveCount(2);
        security[0].GetProperty("bearer").EnumerateArray().Select(r => r.GetString()).Should().Equal("admin");
        Operation("/me", "get").GetProperty("security")[0].GetProperty("bearer").GetArrayLength().Should().Be(0);
        Operation("/", "get").TryGetProperty("security", out _).Should().BeFalse();
    }

    [Test]
    public void Excluded_routes_the_document_itself_the_docs_page_and_websockets_are_left_out()
    {
        var paths = _document.GetProperty("paths");
        paths.TryGetProperty("/hidden", out _).Should().BeFalse();
        paths.TryGetProperty("/openapi.json", out _).Should().BeFalse();
        paths.TryGetProperty("/docs", out _).Should().BeFalse();
        paths.TryGetProperty("/ws", out _).Should().BeFalse();
    }

    [Test]
    public async Task An_excluded_route_is_still_served()
    {
        var response = await _client.GetAsync("/hidden");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Test]
    public void Routers_and_mounted_apps_are_described_under_their_full_paths()
    {
        var paths = _document.GetProperty("paths");
        paths.TryGetProperty("/api/ping", out _).Should().BeTrue();
        Parameter(Operation("/api/inner/deep/{n}", "get"), "n").GetProperty("schema").GetProperty("format").GetString().Should().Be("int64");
        Operation("/sub/status", "get").GetProperty("summary").GetString().Should().Be("Mounted status");
    }

    [Test]
    public void Events_describe_a_text_event_stream_with_an_item_schema()
    {
        var stream = Operation("/feed", "get").GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("text/event-stream");
        var item = stream.GetProperty("itemSchema");
        item.GetProperty("type").GetString().Should().Be("object");
        var properties = item.GetProperty("properties");
        properties.EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo("data", "event", "id", "retry");
        properties.GetProperty("event").GetProperty("enum").EnumerateArray().Select(e => e.GetString()).Should().Equal("created", "deleted");
        properties.GetProperty("data").GetProperty("type").GetString().Should().Be("string");
        properties.GetProperty("data").GetProperty("contentMediaType").GetString().Should().Be("application/json");
        properties.GetProperty("data").GetProperty("contentSchema").GetProperty("oneOf").GetArrayLength().Should().Be(2);
        properties.GetProperty("retry").GetProperty("type").GetString().Should().Be("integer");
    }

    [Test]
    public void A_method_without_a_fixed_field_goes_under_additional_operations()
    {
        var item = _document.GetProperty("paths").GetProperty("/purge/{pk}");
        item.GetProperty("additionalOperations").GetProperty("PURGE").GetProperty("operationId").GetString().Should().Be("purgePurgePk");
    }

    [Test]
    public void The_error_shape_is_a_component()
    {
        var error = _document.GetProperty("components").GetProperty("schemas").GetProperty("HttpError");
        error.GetProperty("required").EnumerateArray().Select(r => r.GetString()).Should().Equal("error", "status");
        error.GetProperty("properties").EnumerateObject().Select(p => p.Name).Should().Equal("error", "status", "detail");
    }

    [Test]
    public async Task The_same_bytes_are_served_with_a_strong_etag_and_a_304_when_the_client_has_them()
    {
        var first = await _client.GetAsync("/openapi.json");
        var etag = first.Headers.ETag!;
        etag.IsWeak.Should().BeFalse();
        (await first.Content.ReadAsByteArrayAsync()).Should().Equal(_bytes);

        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/openapi.json");
        conditional.Headers.IfNoneMatch.Add(etag);
        var second = await _client.SendAsync(conditional);
        second.StatusCode.Should().Be(HttpStatusCode.NotModified);
        (await second.Content.ReadAsByteArrayAsync()).Should().BeEmpty();

        using var stale = new HttpRequestMessage(HttpMethod.Get, "/openapi.json");
        stale.Headers.TryAddWithoutValidation("If-None-Match", "\"something-else\"");
        (await _client.SendAsync(stale)).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Test]
    public async Task The_docs_page_is_served_and_points_at_the_document()
    {
        var response = await _client.GetAsync("/docs");
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.TextAsync()).Should().Contain("/openapi.json");
    }

    [Test]
    public void Calling_open_api_twice_or_with_a_bad_path_says_how_to_fix_it()
    {
        var app = new App();
        app.Invoking(a => a.OpenApi(path: "openapi.json")).Should().Throw<ArgumentException>().WithMessage("*must start with '/'*");
        app.OpenApi(docsPath: null);
        app.Invoking(a => a.OpenApi()).Should().Throw<InvalidOperationException>().WithMessage("*called once*");
    }

    [Test]
    public async Task Without_a_docs_path_there_is_no_page_and_no_security_schemes_without_identity_settings()
    {
        var app = TestApps.Quiet();
        app.OpenApi(path: "/spec.json", docsPath: null);
        app.Get("/x", (req, res) => res.Text = "").Requires("admin");
        await using var client = app.CreateClient();

        (await client.GetAsync("/docs")).StatusCode.Should().Be(HttpStatusCode.NotFound);
        var document = await (await client.GetAsync("/spec.json")).JsonAsync();
        document.GetProperty("components").TryGetProperty("securitySchemes", out _).Should().BeFalse();
        var x = document.GetProperty("paths").GetProperty("/x").GetProperty("get");
        x.TryGetProperty("security", out _).Should().BeFalse("a requirement must name a scheme the document declares");
        x.GetProperty("responses").TryGetProperty("401", out _).Should().BeTrue();
    }
}
