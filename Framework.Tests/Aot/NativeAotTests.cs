using System.Net.ServerSentEvents;
using System.Text.Json;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Aot;

/// <summary>
/// Native AOT for real: <c>dotnet publish -r linux-x64 -p:PublishAot=true</c> of <c>Examples/TemperatureFeed</c>, as a user
/// would run it, with zero trim and AOT warnings; then the native binary serves its page and its feed to real clients.
/// The publish runs on a copy of the sources, so the test run's own build output is never rewritten under it.
/// </summary>
[TestFixture]
public class NativeAotTests
{
    private static readonly string[] Copied = ["Framework", "packaging", "Examples/TemperatureFeed"];
    private static readonly string[] CopiedFiles = ["Directory.Build.props", "global.json", "Examples/Directory.Build.props"];

    [Test]
    public async Task TemperatureFeed_publishes_native_with_zero_warnings_and_serves_its_page_and_feed()
    {
        if (!OnPath("clang")) Assert.Ignore("Native AOT publishing needs clang and zlib1g-dev (apt-get install -y clang zlib1g-dev); .ci/run installs them.");
        var work = Directory.CreateTempSubdirectory("bocata-aot").FullName;
        try
        {
            foreach (var folder in Copied) CopySources(Path.Combine(TestApps.Root, folder), Path.Combine(work, folder));
            foreach (var file in CopiedFiles) File.Copy(Path.Combine(TestApps.Root, file), Path.Combine(work, file));
            var output = Path.Combine(work, "native");

            var publish = await DotnetCli.RunAsync(work, TimeSpan.FromMinutes(6), "publish", "Examples/TemperatureFeed/TemperatureFeed.csproj",
                "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true", "-o", output, "--disable-build-servers");

            publish.Code.Should().Be(0, publish.Output);
            var warnings = publish.Output.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"\bwarning [A-Z]{2,}[0-9]+")).Distinct().ToList();
            warnings.Should().BeEmpty("the framework and the example must publish with no trim or AOT warning");
            var binary = Path.Combine(output, "TemperatureFeed");
            File.Exists(binary).Should().BeTrue();
            File.Exists(Path.Combine(output, "TemperatureFeed.dll")).Should().BeFalse("a native binary, not IL for the JIT");
            File.Exists(Path.Combine(output, "wwwroot", "index.html")).Should().BeTrue("the page is published beside the binary");

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
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, program)));

    /// <summary>A project folder without its build output.</summary>
    private static void CopySources(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.EnumerateDirectories(from))
            if (Path.GetFileName(dir) is not ("bin" or "obj")) CopySources(dir, Path.Combine(to, Path.GetFileName(dir)));
    }
}
