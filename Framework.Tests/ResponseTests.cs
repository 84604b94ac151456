using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests;

public class ResponseTests
{
    [Test]
    public async Task Text_html_json_and_content_set_body_and_media_type_last_setter_wins()
    {
        var app = TestApps.Quiet();
        app.Route("/text", (req, res) => res.Text = "héllo");
        app.Route("/html", (req, res) => res.Html = "<p>hi</p>");
        app.Route("/json", (req, res) => res.Json = new { firstName = "Ana", Age = 3, Tags = new[] { "a" } });
        app.Route("/bytes", (req, res) => { res.Headers["Content-Type"] = "image/png"; res.Content = [1, 2, 3]; });
        app.Route("/last", (req, res) => { res.Json = new { a = 1 }; res.Text = "text wins"; });
        app.Route("/empty", (req, res) => res.StatusCode = 204);
        await using var client = app.CreateClient();

        var text = await client.GetAsync("/text");
        text.Content.Headers.ContentType!.ToString().Should().Be("text/plain; charset=utf-8");
        text.Content.Headers.ContentLength.Should().Be(6);
        (await text.TextAsync()).Should().Be("héllo");
        (await client.GetAsync("/html")).Content.Headers.ContentType!.ToString().Should().Be("text/html; charset=utf-8");
        var json = await client.GetAsync("/json");
        json.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        (await json.TextAsync()).Should().Be("""{"firstName":"Ana","age":3,"tags":["a"]}""");
        var bytes = await client.GetAsync("/bytes");
        bytes.Content.Headers.ContentType!.MediaType.Should().Be("image/png");
        (await bytes.Content.ReadAsByteArrayAsync()).Should().Equal(1, 2, 3);
        (await client.GetAsync("/last")).Content.Headers.ContentType!.MediaType.Should().Be("text/plain");
        var empty = await client.GetAsync("/empty");
        empty.StatusCode.Should().Be(HttpStatusCode.NoContent);
        empty.Content.Headers.ContentLength.Should().Be(0);
    }

    [Test]
    public async Task Large_text_bodies_have_an_exact_content_length()
    {
        var big = string.Concat(Enumerable.Repeat("ünïcödé-", 50_000));
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = big);
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");

        response.Content.Headers.ContentLength.Should().Be(Encoding.UTF8.GetByteCount(big));
        (await response.TextAsync()).Should().Be(big);
    }

    [TestCase(100)]
    [TestCase(16 * 1024 + 1)]
    [TestCase(1_000_000)]
    public async Task Byte_and_json_bodies_of_any_size_are_sent_whole(int size)
    {
        var bytes = new byte[size];
        Random.Shared.NextBytes(bytes);
        var app = TestApps.Quiet();
        app.Route("/bytes", (req, res) => res.Content = bytes);
        app.Route("/json", (req, res) => res.Json = new { blob = Convert.ToBase64String(bytes) });
        await using var client = app.CreateClient();

        (await client.GetByteArrayAsync("/bytes")).Should().Equal(bytes);
        var json = await (await client.GetAsync("/json")).JsonAsync();
        Convert.FromBase64String(json.GetProperty("blob").GetString()!).Should().Equal(bytes);
    }

    [Test]
    public async Task Status_headers_cookies_attachment_and_chunked()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) =>
        {
            res.StatusCode = 202;
            res.Headers["X-One"] = "1";
            res.Headers.Append("X-Many", "a");
            res.Headers.Append("X-Many", "b");
            res.Cookies.Set("session", "a b", maxAge: TimeSpan.FromHours(1));
            res.Cookies.Set("theme", "dark", httpOnly: false, sameSite: "Strict");
            res.Attachment = "report 2026.csv";
            res.Chunked = true;
            res.Text = "a,b";
        });
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");

        response.StatusCode.Should().Be(HttpStatusCode.Accepted);
        response.Headers.GetValues("X-One").Should().Equal("1");
        response.Headers.GetValues("X-Many").Should().Equal("a", "b");
        var cookies = response.Headers.GetValues("Set-Cookie").ToList();
        cookies.Should().HaveCount(2);
        cookies[0].Should().StartWith("session=a%20b").And.Contain("max-age=3600").And.Contain("path=/").And.Contain("httponly").And.Contain("samesite=lax");
        cookies[1].Should().StartWith("theme=dark").And.Contain("samesite=strict").And.NotContain("httponly");
        response.Content.Headers.ContentDisposition!.DispositionType.Should().Be("attachment");
        response.Content.Headers.ContentDisposition.FileName.Should().Contain("report 2026.csv");
        response.Headers.TransferEncodingChunked.Should().BeTrue();
        response.Content.Headers.NonValidated.Contains("Content-Length").Should().BeFalse();
        (await response.TextAsync()).Should().Be("a,b");
    }

    [TestCase("evil\r\nSet-Cookie: hacked=1")]
    [TestCase("evil\nX-Injected: 1")]
    [TestCase("evil\rX-Injected: 1")]
    [TestCase("nul\0byte")]
    public async Task Header_injection_throws_a_clear_exception_and_never_splits_the_response(string value)
    {
        var app = TestApps.Quiet();
        Exception? caught = null;
        app.Route("/caught", (req, res) =>
        {
            try { res.Headers["X-Name"] = value; }
            catch (Exception e) { caught = e; }
            res.Text = "safe";
        });
        app.Route("/uncaught", (req, res) => res.Headers.Append("X-Name", value));
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/caught")).Should().Be("safe");
        caught.Should().BeOfType<ArgumentException>().Which.Message.Should().Contain("cannot contain CR, LF, NUL");

        var raw = await RawHttp.GetAsync(client.BaseAddress!, "/uncaught");
        raw.Should().StartWith("HTTP/1.1 500 ");
        raw.Should().NotContain("hacked").And.NotContain("X-Injected").And.NotContain("X-Name");
    }

    [Test]
    public void Header_names_must_be_tokens()
    {
        var app = TestApps.Quiet();
        Exception? caught = null;
        app.Route("/", (req, res) =>
        {
            try { res.Headers["Bad Name:"] = "x"; }
            catch (Exception e) { caught = e; }
        });
        using var client = app.CreateClient();
        client.GetAsync("/").GetAwaiter().GetResult();
        caught.Should().BeOfType<ArgumentException>().Which.Message.Should().Contain("not allowed in a header name");
    }

    [Test]
    public async Task Stream_writes_and_flushes_each_item()
    {
        var app = TestApps.Quiet();
        var release = new TaskCompletionSource();
        app.Route("/stream", (req, res) => res.Stream(Parts()));
        async IAsyncEnumerable<string> Parts()
        {
            yield return "first\n";
            await release.Task;
            yield return "second\n";
        }
        await using var client = app.CreateClient();

        using var response = await client.GetAsync("/stream", HttpCompletionOption.ResponseHeadersRead);
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/plain");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("first");
        release.SetResult();
        (await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("second");
        (await reader.ReadLineAsync()).Should().BeNull();
    }

    [Test]
    public async Task Stream_accepts_bytes_and_memory()
    {
        var app = TestApps.Quiet();
        app.Route("/bytes", (req, res) => res.Stream(Bytes()));
        app.Route("/memory", (req, res) => res.Stream(Memory()));
        static async IAsyncEnumerable<byte[]> Bytes() { await Task.Yield(); yield return [1, 2]; yield return [3]; }
        static async IAsyncEnumerable<ReadOnlyMemory<byte>> Memory() { await Task.Yield(); yield return new byte[] { 4, 5 }; }
        await using var client = app.CreateClient();

        (await client.GetByteArrayAsync("/bytes")).Should().Equal(1, 2, 3);
        (await client.GetByteArrayAsync("/memory")).Should().Equal(4, 5);
    }

    [Test]
    public async Task Background_work_runs_after_the_response_was_sent()
    {
        var app = TestApps.Quiet();
        var ran = new TaskCompletionSource<string>();
        var gate = new TaskCompletionSource();
        app.Route("/", (req, res) =>
        {
            res.Text = "accepted";
            res.Background(async () =>
            {
                await gate.Task;
                ran.SetResult("done");
            });
        });
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/").WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("accepted");
        ran.Task.IsCompleted.Should().BeFalse("the response arrived before the background work finished");
        gate.SetResult();
        (await ran.Task.WaitAsync(TimeSpan.FromSeconds(10))).Should().Be("done");
    }

    [Test]
    public async Task Background_work_registered_before_an_error_still_runs()
    {
        // Bocadillo runs background tasks even when the handler raised and an error handler answered.
        var app = TestApps.Quiet();
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Route("/", (req, res) =>
        {
            res.Background(() =>
            {
                ran.SetResult();
                return Task.CompletedTask;
            });
            throw new HttpError(409, "conflict");
        });
        await using var client = app.CreateClient();

        (await client.GetAsync("/")).StatusCode.Should().Be(System.Net.HttpStatusCode.Conflict);
        await ran.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task A_failing_background_task_does_not_affect_the_response()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) =>
        {
            res.Text = "fine";
            res.Background(() => throw new InvalidOperationException("boom"));
        });
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/")).Should().Be("fine");
        (await client.GetStringAsync("/")).Should().Be("fine");
    }

    [Test]
    public void Wrong_calls_explain_how_to_fix_them()
    {
        var app = TestApps.Quiet();
        var errors = new List<Exception>();
        app.Route("/", (req, res) =>
        {
            foreach (var action in new Action[]
            {
                () => res.StatusCode = 42,
                () => res.File("/no/such/file.txt"),
                () => res.EventStream(Empty(), ping: TimeSpan.Zero),
            })
            {
                try { action(); }
                catch (Exception e) { errors.Add(e); }
            }
        });
        using var client = app.CreateClient();
        client.GetAsync("/").GetAwaiter().GetResult();

        errors.Should().HaveCount(3);
        errors[0].Should().BeOfType<ArgumentOutOfRangeException>().Which.Message.Should().Contain("three-digit");
        errors[1].Should().BeOfType<FileNotFoundException>();
        errors[2].Should().BeOfType<ArgumentOutOfRangeException>().Which.Message.Should().Contain("positive");
    }

    private static async IAsyncEnumerable<ServerEvent> Empty([EnumeratorCancellation] CancellationToken ct = default)
    {
        await Task.Yield();
        yield break;
    }
}
