using System.Net.ServerSentEvents;
using System.Text.Json;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Toolchain;

/// <summary>
/// Native AOT for real: <c>dotnet publish -r linux-x64 -p:PublishAot=true</c> of <c>Examples/TemperatureFeed</c>, as a user
/// would run it, with zero trim and AOT warnings; then the native binary serves its page and its feed to real clients.
/// The publish runs in the background from the start of the test run (<see cref="BackgroundBuilds"/>), on a copy of the
/// sources, so the test run's own build output is never rewritten under it.
/// </summary>
[TestFixture]
public class NativeAotTests
{
    [Test]
    public async Task TemperatureFeed_publishes_native_with_zero_warnings_and_serves_its_page_and_feed()
    {
        if (!OnPath("clang")) Assert.Ignore("Native AOT publishing needs clang and zlib1g-dev (apt-get install -y clang zlib1g-dev); .ci/run installs them.");
        var (publish, output, binary) = await BackgroundBuilds.TemperatureFeed;
        publish!.Code.Should().Be(0, publish.Output);
        Warnings(publish.Output).Should().BeEmpty("the framework and the app must publish with no trim or AOT warning");
        File.Exists(binary).Should().BeTrue();
        File.Exists(Path.Combine(output, "TemperatureFeed.dll")).Should().BeFalse("a native binary, not IL for the JIT");
        File.Exists(Path.Combine(output, "wwwroot", "index.html")).Should().BeTrue("the page is published beside the binary");
        // Pay for play: the feed sets no certificate and no compression, so neither TLS nor the encoders are in the binary.
        var symbols = await File.ReadAllBytesAsync(binary + ".dbg");
        symbols.AsSpan().IndexOf("System_Net_Security_SslStream"u8).Should().Be(-1, "an app that never sets Settings.Certificate carries no TLS");
        symbols.AsSpan().IndexOf("BrotliEncoderCompress"u8).Should().Be(-1, "an app that never sets Settings.Gzip carries no brotli encoder");
        symbols.AsSpan().IndexOf("System_IO_Compression_GZipStream"u8).Should().Be(-1, "nor the gzip one");

        await using var app = await ExampleProcess.StartExecutableAsync(binary);
        using var http = new HttpClient { BaseAddress = new Uri(app.Url) };
        (await http.GetStringAsync("/")).Should().Contain("/temperature-feed").And.Contain("<title>Temperature feed");
        using var missing = await http.GetAsync("/missing");
        ((int)missing.StatusCode).Should().Be(404);
        (await missing.Content.ReadAsStringAsync()).Should().Be("{\"error\":\"404 Not Found\",\"status\":404}", "error bodies serialize without reflection");

        await using var feed = await http.GetStreamAsync("/temperature-feed");
        var events = await SseParser.Create(feed).EnumerateAsync().Take(5).ToListAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        events.Should().HaveCount(5);
        foreach (var item in events)
        {
            using var json = JsonDocument.Parse(item.Data);
            json.RootElement.GetProperty("temperature").GetDouble().Should().BeInRange(8, 12);
        }
    }

    /// <summary>Typed handlers (route, query and service parameters, validation attributes, an enum, an async handler), a
    /// class-based view, a typed WebSocket handler, anonymous objects and a JSON context the app never registers, and
    /// compression: added to the template's --aot app (TemplatePathTests), which publishes them native from the package.
    /// The source generator binds them all, so the app publishes with zero warnings and answers as a JIT-compiled app does.</summary>
    internal const string BindingRoutes = """
        using System.ComponentModel.DataAnnotations;
        using System.Text.Json.Serialization;
        using Bocata;

        namespace AotBinding
        {
            public static class BindingRoutes
            {
                // The app must turn compression on itself (Settings.Gzip = true): these routes check it.
                public static App Add(App app)
                {
                    // BindingJson is not registered here: the generator registers the project's JSON contexts.
                    app.Provide(() => new Greeter(), ProviderScope.App);
                    app.Get("/items/{id}", (Request req, Response res, int id, [Range(1, 50)] int limit = 10, Size size = Size.Small) =>
                        res.Json = new Item(id, limit, size.ToString()));
                    app.Get("/greet/{name}", async (Request req, Response res, [StringLength(10)] string name, Greeter greeter) =>
                    {
                        await Task.Yield();
                        res.Text = greeter.Greet(name);
                    });
                    app.Get("/anonymous/{name}", (Request req, Response res, string name) =>
                        res.Json = new { greeting = $"Hello, {name}!", nested = new { length = name.Length } });
                    app.Route<ItemView>("/views/{id}");
                    app.WebSocketRoute("/rooms/{room}", async (WebSocket ws, int room, Greeter greeter) => await ws.SendTextAsync($"{greeter.Greet("ws")} in {room}"));
                    app.Get("/long", (req, res) => res.Text = string.Concat(Enumerable.Repeat("compressible ", 200)));
                    app.Get("/event", (req, res) => res.Text = new ServerEvent(json: new { temperature = 21.5 }).Data!);
                    app.Post("/items", async (req, res) =>
                    {
                        var item = await req.JsonAsync<NewItem>();
                        res.StatusCode = 201;
                        res.Json = item;
                    });
                    return app;
                }
            }

            internal sealed class Greeter
            {
                public string Greet(string name) => $"hello {name}";
            }

            internal sealed class ItemView
            {
                public void Get(Request req, Response res, int id) => res.Json = new Item(id, 0, "view");
            }

            internal enum Size { Small, Large }

            internal sealed record Item(int Id, int Limit, string Size);

            internal sealed record NewItem([property: Required] string? Title, [property: Range(1, 5)] int Priority);

            [JsonSerializable(typeof(Item))]
            [JsonSerializable(typeof(NewItem))]
            internal sealed partial class BindingJson : JsonSerializerContext;
        }
        """;

    /// <summary>What a native app with <see cref="BindingRoutes"/> must answer.</summary>
    internal static async Task CheckBindingRoutesAsync(string url)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        (await http.GetStringAsync("/items/7?limit=3&size=large")).Should().Be("{\"id\":7,\"limit\":3,\"size\":\"Large\"}");
        (await http.GetStringAsync("/items/7")).Should().Be("{\"id\":7,\"limit\":10,\"size\":\"Small\"}");
        (await http.GetStringAsync("/greet/ana")).Should().Be("hello ana");
        (await http.GetStringAsync("/anonymous/ana")).Should().Be("{\"greeting\":\"Hello, ana!\",\"nested\":{\"length\":3}}", "anonymous objects serialize through generated shapes");
        (await http.GetStringAsync("/event")).Should().Be("{\"temperature\":21.5}");
        (await http.GetStringAsync("/views/4")).Should().Be("{\"id\":4,\"limit\":0,\"size\":\"view\"}", "a class-based view bound by the generator");
        using (var socket = new System.Net.WebSockets.ClientWebSocket())
        {
            await socket.ConnectAsync(new Uri(url.Replace("http", "ws", StringComparison.Ordinal) + "/rooms/9"), CancellationToken.None);
            var buffer = new byte[256];
            var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            System.Text.Encoding.UTF8.GetString(buffer, 0, received.Count).Should().Be("hello ws in 9", "a typed WebSocket handler bound by the generator");
        }
        foreach (var coding in new[] { "br", "gzip" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/long") { Headers = { { "Accept-Encoding", coding } } };
            using var compressed = await http.SendAsync(request);
            compressed.Content.Headers.ContentEncoding.Should().Equal(coding);
            await using var body = await compressed.Content.ReadAsStreamAsync();
            await using System.IO.Stream decoder = coding == "br"
                ? new System.IO.Compression.BrotliStream(body, System.IO.Compression.CompressionMode.Decompress)
                : new System.IO.Compression.GZipStream(body, System.IO.Compression.CompressionMode.Decompress);
            (await new StreamReader(decoder).ReadToEndAsync()).Should().Be(string.Concat(Enumerable.Repeat("compressible ", 200)), "Settings.Gzip brings the encoders into a native app");
        }
        using var bad = await http.GetAsync("/items/x?limit=99");
        ((int)bad.StatusCode).Should().Be(400);
        (await bad.Content.ReadAsStringAsync()).Should().Be("{\"error\":\"400 Bad Request\",\"status\":400,\"detail\":{\"id\":\"Must be a number.\",\"limit\":\"Must be less than or equal to 50.\"}}");
        using var tooLong = await http.GetAsync("/greet/" + new string('a', 11));
        ((int)tooLong.StatusCode).Should().Be(400);
        using var created = await http.PostAsync("/items", new StringContent("{\"title\":\"x\",\"priority\":2}", System.Text.Encoding.UTF8, "application/json"));
        ((int)created.StatusCode).Should().Be(201);
        (await created.Content.ReadAsStringAsync()).Should().Be("{\"title\":\"x\",\"priority\":2}");
        using var invalid = await http.PostAsync("/items", new StringContent("{\"priority\":9}", System.Text.Encoding.UTF8, "application/json"));
        ((int)invalid.StatusCode).Should().Be(400);
        (await invalid.Content.ReadAsStringAsync()).Should().Contain("\"title\":\"This field is required.\"");
    }

    /// <summary>The compiler and analyzer warnings (IL…, CS…, BOCATA…) in a build's output.</summary>
    internal static List<string> Warnings(string output) =>
        output.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"\bwarning [A-Z]{2,}[0-9]+")).Distinct().ToList();

    internal static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, program)));
}
