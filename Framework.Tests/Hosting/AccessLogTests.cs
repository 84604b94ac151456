using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Hosting;

public class AccessLogTests
{
    [Test]
    public void The_console_access_log_writes_one_line_per_request_in_batches()
    {
        using var output = new MemoryStream();
        var log = new ConsoleAccessLog(output);
        log.Write("GET", "", "/items/3", 200, Stopwatch.GetTimestamp());
        log.Write("POST", "/api", "/items", 201, Stopwatch.GetTimestamp());
        log.Dispose();

        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(2);
        lines[0].Should().MatchRegex(@"^\d\d:\d\d:\d\d info: Bocata\.Access GET /items/3 200 \d+\.\d ms$");
        lines[1].Should().Contain("POST /api/items 201");
    }

    [Test]
    public void Control_characters_in_a_path_cannot_forge_log_lines_or_terminal_escapes()
    {
        using var output = new MemoryStream();
        var log = new ConsoleAccessLog(output);
        log.Write("GET", "", "/nothere\nINJECTED\r\u001b[31m", 404, Stopwatch.GetTimestamp());
        log.Dispose();

        var text = Encoding.UTF8.GetString(output.ToArray());
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle();
        text.Should().Contain(@"/nothere\x0AINJECTED\x0D\x1B[31m 404").And.NotContain("\r").And.NotContain("\u001b");
    }

    [Test]
    public void C1_controls_bidi_overrides_and_line_separators_are_escaped_like_C0_ones()
    {
        // Security round 4, finding 8: U+009B (CSI) drives an 8-bit terminal, U+202E makes a line read backwards.
        const string path = "/a\u009B31m\u0085b\u202Egpj.exe\u2066\u2028c\u00e9";
        using var output = new MemoryStream();
        var log = new ConsoleAccessLog(output);
        log.Write("GET", "", path, 404, Stopwatch.GetTimestamp());
        log.Dispose();

        var text = Encoding.UTF8.GetString(output.ToArray());
        text.Should().Contain(@"/a\x9B31m\x85b\u202Egpj.exe\u2066\u2028c" + "\u00e9 404", "é is printable: only controls and direction changes are escaped");
        text.Should().NotContainAny("\u009B", "\u0085", "\u202E", "\u2066", "\u2028");
        AccessLog.Printable(path).Should().Be(@"/a\x9B31m\x85b\u202Egpj.exe\u2066\u2028c" + "\u00e9", "the logger access log escapes the same");
    }

    [Test]
    public async Task The_logger_access_log_escapes_a_decoded_line_break_too()
    {
        var logs = new Middleware.ErrorHandlingTests.ListLoggerProvider();
        var app = new App();
        app.Configure(s =>
        {
            s.StaticDir = null;
            s.LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs));
        });
        await using (var client = app.CreateClient())
            await client.GetAsync("/nothere%0aINJECTED%0d");
        lock (logs.Messages)
        {
            logs.Messages.Should().Contain(m => m.Contains(@"GET /nothere\x0AINJECTED\x0D 404"));
            logs.Messages.Should().NotContain(m => m.Contains("\nINJECTED"));
        }
    }
}
