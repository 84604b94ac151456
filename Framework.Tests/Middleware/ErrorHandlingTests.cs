using System.Net;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Bocata.Tests.Middleware;

public class ErrorHandlingTests
{
    private sealed class PaymentError(string reason) : InvalidOperationException(reason);

    [Test]
    public async Task HttpError_becomes_json_with_status_and_detail()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => throw new HttpError(403, detail: "Nope!"));
        app.Route("/teapot", (req, res) => throw new HttpError(418));
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");
        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await response.TextAsync()).Should().Be("""{"error":"403 Forbidden","status":403,"detail":"Nope!"}""");
        (await (await client.GetAsync("/teapot")).TextAsync()).Should().Be("""{"error":"418 I'm a teapot","status":418}""".Replace("'", "\\u0027"));
    }

    [Test]
    public async Task Error_details_keep_non_ascii_readable_and_escape_what_could_close_a_script_element()
    {
        // responses.md: readable UTF-8 for text, HTML-sensitive characters escaped (JSON may end up inside a page).
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => throw new HttpError(400, detail: "café 'x' </script><b>"));
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");

        var text = await response.TextAsync();
        text.Should().Contain("café").And.Contain(@"\u0027x\u0027 \u003C/script\u003E\u003Cb\u003E").And.NotContain("<");
        (await response.JsonAsync()).GetProperty("detail").GetString().Should().Be("café 'x' </script><b>");
    }

    [Test]
    public async Task Built_in_html_and_text_handlers_can_replace_json()
    {
        var html = TestApps.Quiet();
        html.ErrorHandler<HttpError>(ErrorHandlers.ToHtml);
        html.Route("/", (req, res) => throw new HttpError(404, "No <script> here"));
        var text = TestApps.Quiet();
        text.ErrorHandler<HttpError>(ErrorHandlers.ToText);
        text.Route("/", (req, res) => throw new HttpError(409, "Already exists"));
        await using var htmlClient = html.CreateClient();
        await using var textClient = text.CreateClient();

        var page = await htmlClient.GetAsync("/");
        page.Content.Headers.ContentType!.MediaType.Should().Be("text/html");
        (await page.TextAsync()).Should().Contain("<h1>404 Not Found</h1>").And.Contain("No &lt;script&gt; here");
        (await (await textClient.GetAsync("/")).TextAsync()).Should().Be("409 Conflict: Already exists");
    }

    [Test]
    public async Task Custom_handlers_are_found_through_the_exception_base_classes()
    {
        var app = TestApps.Quiet();
        app.ErrorHandler<InvalidOperationException>((req, res, e) =>
        {
            res.StatusCode = 402;
            res.Json = new { reason = e.Message };
        });
        app.Route("/", (req, res) => throw new PaymentError("card declined"));
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");

        response.StatusCode.Should().Be(HttpStatusCode.PaymentRequired);
        (await response.TextAsync()).Should().Be("""{"reason":"card declined"}""");
    }

    [Test]
    public async Task A_handler_that_rethrows_ends_in_a_500_not_a_loop()
    {
        var app = TestApps.Quiet();
        var calls = 0;
        app.ErrorHandler<InvalidOperationException>((req, res, e) =>
        {
            calls++;
            throw e;
        });
        app.AddMiddleware<Passthrough>();
        app.Route("/", (req, res) => throw new InvalidOperationException("again"));
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");

        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        calls.Should().Be(1);
    }

    [Test]
    public async Task Unhandled_exceptions_are_a_plain_500_without_the_stack_trace_and_are_logged()
    {
        var logs = new ListLoggerProvider();
        var app = new App();
        app.Configure(s =>
        {
            s.AccessLog = false;
            s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        });
        app.Route("/", (req, res) => throw new NullReferenceException("secret internals"));
        app.Route("/async", async (req, res) =>
        {
            await Task.Yield();
            throw new FormatException("more secrets");
        });
        await using var client = app.CreateClient();

        foreach (var path in new[] { "/", "/async" })
        {
            var response = await client.GetAsync(path);
            response.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
            response.Content.Headers.ContentType!.MediaType.Should().Be("text/plain");
            (await response.TextAsync()).Should().Be("500 Internal Server Error");
        }
        logs.Messages.Should().Contain(m => m.Contains("secret internals") && m.Contains("at "));
    }

    private sealed class Node
    {
        public Node? Next { get; set; }
    }

    [Test]
    public async Task A_body_that_cannot_be_serialized_is_a_plain_500()
    {
        var app = TestApps.Quiet();
        app.Route("/cycle", (req, res) =>
        {
            var node = new Node();
            node.Next = node;
            res.Json = node;
        });
        app.Route("/", (req, res) => res.Text = "alive");
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/cycle");

        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        (await response.TextAsync()).Should().Be("500 Internal Server Error");
        (await client.GetStringAsync("/")).Should().Be("alive");
    }

    [Test]
    public async Task Redirects_are_302_or_301()
    {
        var app = TestApps.Quiet();
        app.Route("/old", (req, res) => throw new Redirect("/new"));
        app.Route("/gone", (req, res) => throw new Redirect("https://example.org/", permanent: true));
        await using var client = app.CreateClient();

        var temporary = await client.GetAsync("/old");
        temporary.StatusCode.Should().Be(HttpStatusCode.Found);
        temporary.Headers.Location!.OriginalString.Should().Be("/new");
        var permanent = await client.GetAsync("/gone");
        permanent.StatusCode.Should().Be(HttpStatusCode.MovedPermanently);
        permanent.Headers.Location!.OriginalString.Should().Be("https://example.org/");
    }

    [Test]
    public void HttpError_rejects_what_is_not_an_http_status()
    {
        FluentActions.Invoking(() => new HttpError(99)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Redirect*");
        FluentActions.Invoking(() => new HttpError(600)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Test]
    public async Task HttpError_takes_any_status_and_reads_like_Bocadillos()
    {
        // Bocadillo allows HTTPError(201); str(HTTPError(404)) is "404 Not Found"; the status is `status_code`.
        var error = new HttpError(404);
        error.ToString().Should().Be("404 Not Found");
        error.StatusCode.Should().Be(404);
        error.Status.Should().Be(404);

        var app = TestApps.Quiet();
        app.Route("/created", (req, res) => throw new HttpError(201, "made"));
        await using var client = app.CreateClient();
        using var response = await client.GetAsync("/created");
        response.StatusCode.Should().Be(HttpStatusCode.Created);
        (await response.JsonAsync()).GetProperty("error").GetString().Should().Be("201 Created");
    }

    [Test]
    public async Task Error_responses_drop_headers_the_handler_had_set()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) =>
        {
            res.Headers["X-Partial"] = "1";
            throw new HttpError(400, "bad");
        });
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");
        response.Headers.Contains("X-Partial").Should().BeFalse();
    }

    private sealed class Passthrough : Bocata.Middleware;

    [Test]
    public void An_errors_message_is_its_status_as_in_Bocadillo_and_the_detail_stays_apart()
    {
        // Bocadillo's test_http_error: str(HTTPError(404, detail="foo")) == "404 Not Found".
        var error = new HttpError(404, detail: "foo");
        error.Message.Should().Be("404 Not Found");
        error.ToString().Should().Be("404 Not Found");
        error.Detail.Should().Be("foo");
    }

    internal sealed class ListLoggerProvider : ILoggerProvider
    {
        public List<string> Messages { get; } = [];

        public ILogger CreateLogger(string categoryName) => new ListLogger(this);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ListLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (owner.Messages) owner.Messages.Add($"{logLevel} {formatter(state, exception)} {exception}");
            }
        }
    }
}
