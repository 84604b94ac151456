using System.Net;
using System.Text.Json;
using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using static Bocata.Tests.Middleware.ErrorHandlingTests;

namespace Bocata.Tests.Hosting;

/// <summary>Developer-experience issue, item 7 (and the logs item of the ecosystem issue): startup mistakes print their message
/// and exit 1, JSON logs for containers with structured fields, one line at shutdown.</summary>
[NonParallelizable]
public class LoggingTests
{
    [Test]
    public async Task A_startup_mistake_prints_its_message_and_exits_1_without_a_crash_dump()
    {
        var (code, _, error) = await ExampleProcess.RunToExitAsync("HelloWorld", new Dictionary<string, string> { ["PORT"] = "not-a-port" });

        code.Should().Be(1);
        error.Should().Contain("Bocata could not start: The PORT environment variable is 'not-a-port', which is not a port number.");
        error.Should().NotContain("Unhandled exception").And.NotContain("   at ");
    }

    [Test]
    public void Only_bocatas_own_configuration_errors_count_as_startup_mistakes()
    {
        Exception? ours = null;
        try
        {
            new App().Route("/items/{pk", (req, res) => { });
        }
        catch (ArgumentException e)
        {
            ours = e;
        }
        StartupErrors.IsMistake(ours!).Should().BeTrue();
        StartupErrors.IsMistake(new InvalidOperationException("a user's own bug")).Should().BeFalse();
    }

    [Test]
    public async Task Json_logs_carry_structured_request_fields()
    {
        await using var example = await ExampleProcess.StartAsync("HelloWorld", new Dictionary<string, string> { ["BOCATA_LOG_FORMAT"] = "json" });
        using var http = new HttpClient { BaseAddress = new Uri(example.Url) };
        (await http.GetStringAsync("/greet/ana")).Should().Contain("Hello, ana!");
        var lines = await example.OutputLinesAsync(l => l.Contains("\"Route\"", StringComparison.Ordinal), TimeSpan.FromSeconds(10));

        var entry = JsonDocument.Parse(lines.First()).RootElement;
        var state = entry.GetProperty("State");
        state.GetProperty("Method").GetString().Should().Be("GET");
        state.GetProperty("Path").GetString().Should().Be("/greet/ana");
        state.GetProperty("Route").GetString().Should().Be("/greet/{name}");
        state.GetProperty("Status").GetInt32().Should().Be(200);
        entry.GetProperty("Message").GetString().Should().MatchRegex(@"^GET /greet/ana 200 \d+\.\d ms \(route /greet/\{name\}\)$",
            "the pattern is labelled, not read as the path printed twice");
        entry.GetProperty("Category").GetString().Should().Be("Bocata.Access");
    }

    [Test]
    public async Task Stopping_logs_one_line_with_what_was_closed_and_the_time_taken()
    {
        var logs = new ListLoggerProvider();
        var app = new App();
        app.Configure(s => { s.AccessLog = false; s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs)); });
        app.Route("/", (req, res) => res.Text = "hi");
        var running = await app.StartAsync("127.0.0.1", 0);

        await running.StopAsync();

        lock (logs.Messages) logs.Messages.Should().ContainSingle(m => m.StartsWith("Information Bocata stopped in ") && m.Contains("closed 0 event stream(s) and 0 WebSocket(s)"));
    }
}
