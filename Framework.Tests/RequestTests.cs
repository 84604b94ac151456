using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests;

public class RequestTests
{
    private sealed record Item(string Name, decimal Price);

    [Test]
    public async Task Exposes_method_url_path_headers_query_and_client()
    {
        var app = TestApps.Quiet();
        app.Route("/echo/{pk}", (Request req, Response res, string pk) => res.Json = new
        {
            req.Method,
            url = req.Url.AbsoluteUri,
            req.Path,
            agent = req.Headers["user-agent"],
            tags = req.QueryParams.GetAll("tag"),
            last = req.QueryParams["tag"],
            missing = req.QueryParams["nope"],
            pathParams = req.PathParams,
            client = req.Client.Host,
            port = req.Client.Port > 0,
            lastEventId = req.LastEventId,
        });
        await using var client = app.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo/x%20y?tag=a&tag=b");
        request.Headers.UserAgent.ParseAdd("bocata-test/1.0");
        request.Headers.Add("Last-Event-ID", "41");

        var json = await (await client.SendAsync(request)).JsonAsync();

        json.GetProperty("method").GetString().Should().Be("GET");
        json.GetProperty("url").GetString().Should().Be($"{client.BaseAddress!.ToString().TrimEnd('/')}/echo/x%20y?tag=a&tag=b");
        json.GetProperty("path").GetString().Should().Be("/echo/x y");
        json.GetProperty("agent").GetString().Should().Be("bocata-test/1.0");
        json.GetProperty("tags").EnumerateArray().Select(e => e.GetString()).Should().Equal("a", "b");
        json.GetProperty("last").GetString().Should().Be("b");
        json.GetProperty("missing").ValueKind.Should().Be(JsonValueKind.Null);
        json.GetProperty("pathParams").GetProperty("pk").GetString().Should().Be("x y");
        json.GetProperty("client").GetString().Should().Be("127.0.0.1");
        json.GetProperty("port").GetBoolean().Should().BeTrue();
        json.GetProperty("lastEventId").GetString().Should().Be("41");
    }

    [Test]
    public async Task Reads_body_text_and_json()
    {
        var app = TestApps.Quiet();
        app.Post("/bytes", async (req, res) => res.Text = $"{(await req.BodyAsync()).Length} {(await req.BodyAsync()).Length}");
        app.Post("/text", async (req, res) => res.Text = (await req.TextAsync()).ToUpperInvariant());
        app.Post("/json", async (req, res) =>
        {
            var item = await req.JsonAsync<Item>();
            res.Json = item with { Price = item.Price * 2 };
        });
        app.Post("/element", async (req, res) => res.Text = (await req.JsonAsync()).GetProperty("a").GetInt32().ToString());
        await using var client = app.CreateClient();

        (await (await client.PostAsync("/bytes", new ByteArrayContent(new byte[1000]))).TextAsync()).Should().Be("1000 1000");
        (await (await client.PostAsync("/text", new StringContent("héllo"))).TextAsync()).Should().Be("HÉLLO");
        (await (await client.PostAsync("/json", new StringContent("""{"name":"pen","price":1.5}""", Encoding.UTF8, "application/json"))).TextAsync())
            .Should().Be("""{"name":"pen","price":3.0}""");
        (await (await client.PostAsync("/element", new StringContent("""{"a": 7}""", Encoding.UTF8, "application/json"))).TextAsync()).Should().Be("7");
    }

    private static App JsonEcho()
    {
        var app = TestApps.Quiet();
        app.Post("/element", async (req, res) => res.Text = (await req.JsonAsync()).GetProperty("a").GetInt32().ToString());
        app.Post("/item", async (req, res) => res.Json = await req.JsonAsync<Item>());
        return app;
    }

    private static ByteArrayContent Body(string json, string? contentType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        if (contentType is not null) content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    // A <form enctype="text/plain"> of another site can send {"a": 7}= as a body without a CORS preflight; only a JSON media
    // type (which needs one) shows that a page of this origin, or a non-browser client, sent it.
    [TestCase("text/plain", "not text/plain")]
    [TestCase("text/plain; charset=UTF-8", "not text/plain")]
    [TestCase(null, "the request has no Content-Type")]
    [TestCase("application/x-www-form-urlencoded", "not application/x-www-form-urlencoded")]
    [TestCase("application/jsonp", "not application/jsonp")]
    [TestCase("text/json-like", "not text/json-like")]
    [TestCase("nonsense", "not (invalid)")]
    public async Task Json_needs_a_json_content_type_else_415_saying_what_to_send(string? contentType, string says)
    {
        await using var client = JsonEcho().CreateClient();

        foreach (var path in new[] { "/element", "/item" })
        {
            using var response = await client.PostAsync(path, Body("""{"a": 7, "name": "pen", "price": 1}""", contentType));

            response.StatusCode.Should().Be(HttpStatusCode.UnsupportedMediaType, $"{path} with Content-Type {contentType ?? "(none)"}");
            var detail = (await response.JsonAsync()).GetProperty("detail").GetString();
            detail.Should().StartWith("Expected a JSON body: send Content-Type: application/json").And.Contain(says);
        }
    }

    [TestCase("application/json")]
    [TestCase("application/json; charset=utf-8")]
    [TestCase("Application/JSON;charset=\"UTF-8\"")]
    [TestCase("application/merge-patch+json")]
    [TestCase("application/vnd.api+json; charset=utf-8")]
    public async Task Json_and_plus_json_media_types_are_read(string contentType)
    {
        await using var client = JsonEcho().CreateClient();

        using var response = await client.PostAsync("/element", Body("""{"a": 7}""", contentType));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.TextAsync()).Should().Be("7");
    }

    [TestCase("{\"name\": ")]
    [TestCase("not json")]
    [TestCase("{oops")]
    public async Task Malformed_json_is_a_400_with_a_message(string body)
    {
        var app = TestApps.Quiet();
        app.Post("/json", async (req, res) => res.Json = await req.JsonAsync<Item>());
        await using var client = app.CreateClient();

        var response = await client.PostAsync("/json", new StringContent(body, Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.TextAsync()).Should().Be("""{"error":"400 Bad Request","status":400,"detail":"JSON is malformed."}""");
    }

    [Test]
    public async Task Reads_urlencoded_forms()
    {
        var app = TestApps.Quiet();
        app.Post("/form", async (req, res) =>
        {
            var form = await req.FormAsync();
            res.Json = new { name = form["name"], colors = form.GetAll("color"), missing = form["x"] };
        });
        await using var client = app.CreateClient();

        var response = await client.PostAsync("/form", new FormUrlEncodedContent([new("name", "Ana María"), new("color", "red"), new("color", "blue")]));

        (await response.TextAsync()).Should().Be("""{"name":"Ana María","colors":["red","blue"],"missing":null}""");
    }

    [Test]
    public async Task Reads_multipart_forms_with_files()
    {
        var app = TestApps.Quiet();
        app.Post("/upload", async (req, res) =>
        {
            var form = await req.FormAsync();
            var file = form.File("doc")!;
            res.Json = new { title = form["title"], file.FileName, file.ContentType, file.Length, text = file.Text, count = form.Files.Count };
        });
        await using var client = app.CreateClient();
        using var content = new MultipartFormDataContent("----bocata");
        content.Add(new StringContent("Report"), "title");
        var fileContent = new ByteArrayContent(Encoding.UTF8.GetBytes("line 1\nline 2"));
        fileContent.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        content.Add(fileContent, "doc", "notes.txt");

        var uploaded = await client.PostAsync("/upload", content);
        var json = await uploaded.JsonAsync();

        json.GetProperty("title").GetString().Should().Be("Report");
        json.GetProperty("fileName").GetString().Should().Be("notes.txt");
        json.GetProperty("contentType").GetString().Should().Be("text/plain");
        json.GetProperty("length").GetInt64().Should().Be(13);
        json.GetProperty("text").GetString().Should().Be("line 1\nline 2");
        json.GetProperty("count").GetInt32().Should().Be(1);
    }

    [TestCase("multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", 400)]
    [TestCase("multipart/form-data", "--xyz--", 400)]
    [TestCase("multipart/form-data; boundary=xyz", "--xyz\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--xyz--\r\n", 400)]
    [TestCase("application/json", "{}", 415)]
    public async Task Malformed_forms_are_4xx_with_a_message(string contentType, string body, int status)
    {
        var app = TestApps.Quiet();
        app.Post("/form", async (req, res) => res.Text = (await req.FormAsync())["a"] ?? "");
        await using var client = app.CreateClient();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        var response = await client.PostAsync("/form", content);

        ((int)response.StatusCode).Should().Be(status);
        var json = await response.JsonAsync();
        json.GetProperty("detail").GetString().Should().NotBeNullOrEmpty();
    }

    [Test]
    public async Task Streams_the_body_chunk_by_chunk()
    {
        var app = TestApps.Quiet();
        app.Post("/count", async (req, res) =>
        {
            long total = 0;
            var chunks = 0;
            await foreach (var chunk in req.StreamAsync())
            {
                total += chunk.Length;
                chunks++;
            }
            res.Text = $"{total} bytes";
            res.Headers["X-Chunks"] = chunks > 0 ? "some" : "none";
        });
        await using var client = app.CreateClient();

        var response = await client.PostAsync("/count", new ByteArrayContent(new byte[3_000_000]));

        (await response.TextAsync()).Should().Be("3000000 bytes");
        response.Headers.GetValues("X-Chunks").Should().Equal("some");
    }

    [Test]
    public async Task An_oversized_body_is_a_413()
    {
        var app = TestApps.Quiet(s => s.MaxRequestBodySize = 1000);
        app.Post("/upload", async (req, res) => res.Text = $"{(await req.BodyAsync()).Length}");
        await using var client = app.CreateClient();

        (await (await client.PostAsync("/upload", new ByteArrayContent(new byte[1000]))).TextAsync()).Should().Be("1000");
        var response = await client.PostAsync("/upload", new ByteArrayContent(new byte[5000]));
        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        (await response.TextAsync()).Should().Contain("limit is 1000 bytes");
    }

    [Test]
    public async Task An_oversized_chunked_body_is_a_413()
    {
        var app = TestApps.Quiet(s => s.MaxRequestBodySize = 1000);
        app.Post("/upload", async (req, res) => res.Text = $"{(await req.BodyAsync()).Length}");
        await using var client = app.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/upload") { Content = new StreamContent(new MemoryStream(new byte[4000])) };
        request.Headers.TransferEncodingChunked = true;

        var response = await client.SendAsync(request);

        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
    }

    [Test]
    public async Task Reads_cookies()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = $"{req.Cookies["session"]}|{req.Cookies.Count}");
        await using var client = app.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("Cookie", "session=abc%20def; theme=dark");

        (await (await client.SendAsync(request)).TextAsync()).Should().Be("abc def|2");
    }

    [Test]
    public async Task Request_headers_are_read_only_with_a_clear_message()
    {
        var app = TestApps.Quiet();
        Exception? error = null;
        app.Route("/", (req, res) =>
        {
            try { req.Headers["X"] = "y"; }
            catch (Exception e) { error = e; }
        });
        await using var client = app.CreateClient();
        await client.GetAsync("/");

        error.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Contain("res.Headers");
    }

    [Test]
    public async Task Aborted_fires_when_the_client_disconnects()
    {
        var app = TestApps.Quiet();
        var aborted = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        app.Route("/wait", async (req, res) =>
        {
            req.Aborted.Register(() => aborted.TrySetResult());
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, req.Aborted);
        });
        await using var client = app.CreateClient();
        var uri = new Uri(client.BaseAddress!, "/wait");
        using (var socket = new TcpClient())
        {
            await socket.ConnectAsync(uri.Host, uri.Port);
            var request = Encoding.ASCII.GetBytes($"GET /wait HTTP/1.1\r\nHost: {uri.Authority}\r\n\r\n");
            await socket.GetStream().WriteAsync(request);
            await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        aborted.Task.IsCompletedSuccessfully.Should().BeTrue();
    }
}
