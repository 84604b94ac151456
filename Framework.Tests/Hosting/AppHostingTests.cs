using Microsoft.Extensions.Logging;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Hosting;

public class AppHostingTests
{
    [Test]
    public async Task StartAsync_on_port_0_serves_at_the_returned_url_until_stopped()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = "Hello, World!");

        var running = await app.StartAsync("127.0.0.1", 0);
        using var http = new HttpClient();
        (await http.GetStringAsync(running.Url)).Should().Be("Hello, World!");
        new Uri(running.Url).Port.Should().BePositive();
        await running.StopAsync();

        await FluentActions.Awaiting(() => http.GetStringAsync(running.Url)).Should().ThrowAsync<HttpRequestException>();
    }

    [Test]
    public async Task Startup_and_shutdown_handlers_run_in_registration_order()
    {
        var app = TestApps.Quiet();
        var events = new List<string>();
        app.On("startup", () => events.Add("startup 1"));
        app.On("startup", async () => { await Task.Yield(); events.Add("startup 2"); });
        app.On("shutdown", () => events.Add("shutdown 1"));
        app.On("shutdown", async () => { await Task.Yield(); events.Add("shutdown 2"); });
        app.Route("/", (req, res) => res.Text = string.Join(",", events));

        await using (var client = app.CreateClient())
        {
            (await client.GetStringAsync("/")).Should().Be("startup 1,startup 2");
        }

        events.Should().Equal("startup 1", "startup 2", "shutdown 1", "shutdown 2");
        FluentActions.Invoking(() => app.On("teardown", () => { })).Should().Throw<ArgumentException>().WithMessage("*\"startup\", \"stopping\" or \"shutdown\"*");
    }

    [Test]
    public void Configure_is_called_once()
    {
        var app = new App();
        app.Configure(s => s.AccessLog = false);
        FluentActions.Invoking(() => app.Configure(s => s.AccessLog = true)).Should().Throw<InvalidOperationException>().WithMessage("*once*");
    }

    [Test]
    public async Task A_port_in_use_gives_a_clear_message()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var app = TestApps.Quiet();

        var attempt = () => app.StartAsync("127.0.0.1", port);

        (await attempt.Should().ThrowAsync<AddressInUseException>()).Which.Message.Should().Contain($"127.0.0.1:{port}").And.Contain("already in use");
    }

    [Test]
    public async Task The_host_and_port_environment_variables_are_used_when_no_argument_is_given()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = "env");
        Environment.SetEnvironmentVariable("PORT", "0");
        Environment.SetEnvironmentVariable("HOST", "127.0.0.1");
        try
        {
            var running = await app.StartAsync();
            running.Url.Should().StartWith("http://127.0.0.1:");
            await running.StopAsync();
        }
        finally
        {
            Environment.SetEnvironmentVariable("PORT", null);
            Environment.SetEnvironmentVariable("HOST", null);
        }
    }

    [Test]
    public void A_bad_host_is_explained()
    {
        var app = TestApps.Quiet();
        FluentActions.Awaiting(() => app.StartAsync("not an ip", 0)).Should().ThrowAsync<ArgumentException>().WithMessage("*not an IP address*").GetAwaiter().GetResult();
    }

    [Test]
    public async Task Stop_waits_for_in_flight_requests_up_to_the_timeout()
    {
        var app = TestApps.Quiet(s => s.ShutdownTimeout = TimeSpan.FromSeconds(5));
        var started = new TaskCompletionSource();
        app.Route("/slow", async (req, res) =>
        {
            started.SetResult();
            await Task.Delay(300);
            res.Text = "finished";
        });
        var running = await app.StartAsync("127.0.0.1", 0);
        using var http = new HttpClient();
        var pending = http.GetStringAsync(running.Url + "/slow");
        await started.Task;

        await running.StopAsync();

        (await pending).Should().Be("finished");
    }

    [Test]
    public async Task The_access_log_has_one_line_per_request_and_can_be_turned_off()
    {
        var logs = new Middleware.ErrorHandlingTests.ListLoggerProvider();
        var app = new App();
        app.Configure(s => s.LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs)));
        app.Route("/items/{pk}", (Request req, Response res, int pk) => res.Text = "x");
        await using (var client = app.CreateClient())
        {
            await client.GetAsync("/items/3");
            await client.GetAsync("/items/x");
        }
        lock (logs.Messages)
        {
            logs.Messages.Should().Contain(m => m.Contains("GET /items/3 200") && m.Contains(" ms"));
            logs.Messages.Should().Contain(m => m.Contains("GET /items/x 400"));
        }

        var quietLogs = new Middleware.ErrorHandlingTests.ListLoggerProvider();
        var quiet = new App();
        quiet.Configure(s =>
        {
            s.AccessLog = false;
            s.LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(quietLogs));
        });
        quiet.Route("/", (req, res) => res.Text = "x");
        await using (var client = quiet.CreateClient()) await client.GetAsync("/");
        quietLogs.Messages.Should().NotContain(m => m.Contains("GET /"));
    }

    [Test]
    public async Task Run_exits_with_a_clear_message_when_the_port_is_taken()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var project = Path.GetFullPath(Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", "..", "Examples", "HelloWorld"));
        var dll = Directory.GetFiles(Path.Combine(project, "bin"), "HelloWorld.dll", SearchOption.AllDirectories).FirstOrDefault();
        if (dll is null) Assert.Ignore("Examples/HelloWorld is not built; `dotnet build` the solution first.");

        var start = new ProcessStartInfo("dotnet", [dll]) { RedirectStandardError = true, RedirectStandardOutput = true };
        start.Environment["PORT"] = port.ToString();
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        process.ExitCode.Should().NotBe(0);
        (await stderr).Should().Contain("already in use").And.NotContain("   at ");
    }
}
