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
