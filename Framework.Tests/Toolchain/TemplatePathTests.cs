using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Toolchain;

/// <summary>
/// The newcomer path, for real: pack Bocata and Bocata.Templates into a local folder feed, <c>dotnet new install</c> from it,
/// <c>dotnet new bocata</c> into a temporary folder, <c>dotnet test</c> and <c>dotnet run</c> there, and read the feed.
/// A unique pre-release version per run keeps NuGet's package cache from serving an older build.
/// </summary>
[NonParallelizable]
public class TemplatePathTests
{
    private static string Root => TestApps.Root;

    private static Task<(int Code, string Output)> RunAsync(string workingDirectory, params string[] args) =>
        Bocata.Tests.Testing.DotnetCli.RunAsync(workingDirectory, TimeSpan.FromMinutes(3), args);

    private static string Configuration => new DirectoryInfo(TestContext.CurrentContext.TestDirectory).Parent!.Name;

    [Test]
    public async Task Pack_install_new_test_run_and_read_the_feed()
    {
        // Pack, install, new, test and the native publish ran in the background (BackgroundBuilds); checked here step by step.
        var build = await BackgroundBuilds.Template;
        foreach (var step in build.Steps) step.Code.Should().Be(0, $"'{step.Name}' must succeed:\n{step.Output}");
        File.Exists(Path.Combine(build.Feed, $"Bocata.{build.Version}.nupkg")).Should().BeTrue();
        File.Exists(Path.Combine(build.Feed, $"Bocata.{build.Version}.snupkg")).Should().BeTrue("symbols ship as a .snupkg");

        // The template references the Bocata version it shipped with (the build pointed it at this run's CI version).
        build.TemplateReferences.Should().Be(build.ShippedVersion, "the template and the library ship together");
        // --local-feed wrote the app's own nuget.config (nothing global): the restore finds Bocata through it.
        (await File.ReadAllTextAsync(Path.Combine(build.App, "nuget.config"))).Should().Contain($"value=\"{build.Feed}\"");
        (await File.ReadAllTextAsync(Path.Combine(build.App, "MyApp", "Program.cs"))).Should().Contain(": 8123;", "--port sets the default port");
        build["test the app"]!.Output.Should().Contain("Passed!").And.Contain("Passed:     2");

        await using (var running = await RunningApp.StartAsync(build.App, TestApps.FreePort()))
        {
            using var http = new HttpClient { BaseAddress = new Uri(running.Url) };
            await TemplateAppAnswersAsync(http, feedDeadline: TimeSpan.FromSeconds(15));
            (await http.GetStringAsync("/static/index.html")).Should().Contain("EventSource", "the template's static/ folder is served at /static");
            // dotnet run is a Debug build: static files come from the project folder, so a saved edit shows without a rebuild.
            await File.AppendAllTextAsync(Path.Combine(build.App, "MyApp", "static", "index.html"), "<!-- edited while running -->");
            (await http.GetStringAsync("/static/index.html")).Should().Contain("<!-- edited while running -->");
            (await http.GetStringAsync("/")).Should().Contain("<!-- edited while running -->", "res.File reads the project folder's copy too");
        }

        // --aot: PublishAot on and JSON through a context. Built with the trim/AOT analyzers on and the package's source
        // generator binding the typed handler: no warning at all, and the same tests pass.
        build.AotPublishAot.Should().Be("true");
        build["test the --aot app"]!.Output.Should().Contain("Passed:     4", "the --auth app's tests sign in, refuse a wrong password and keep the feed for signed-in users").And.NotContain("warning");
        var generated = Directory.GetFiles(Path.Combine(build.AotApp, "MyAotApp", "obj"), "BocataBinders.g.cs", SearchOption.AllDirectories);
        generated.Should().ContainSingle("the generator in the Bocata package ran");
        (await File.ReadAllTextAsync(generated[0])).Should().Contain("InterceptsLocationAttribute(1, ").And.Contain("binder.Parameter<string>(\"name\"");

        // ... and published Native AOT from the package, with the typed handlers, view, WebSocket handler, anonymous JSON,
        // unregistered JSON context and compression of NativeAotTests.BindingRoutes added: zero warnings; the binary serves
        // the template's page, greeting and feed, and answers every binding check.
        if (!NativeAotTests.OnPath("clang")) Assert.Ignore("The template's --aot app was built and tested; publishing it Native AOT needs clang and zlib1g-dev (apt-get install -y clang zlib1g-dev), which .ci/run installs.");
        var publish = build["publish the --aot app native"];
        publish.Should().NotBeNull("the build publishes the --aot app when clang is on the PATH");
        NativeAotTests.Warnings(publish!.Output).Should().BeEmpty("the template's AOT app publishes with no warning");
        File.Exists(Path.Combine(build.Native, "MyAotApp.dll")).Should().BeFalse("a native binary, not IL for the JIT");
        await using (var binary = await ExampleProcess.StartExecutableAsync(Path.Combine(build.Native, "MyAotApp")))
        {
            using var nativeHttp = new HttpClient { BaseAddress = new Uri(binary.Url) };
            // --auth: the feed is for signed-in users; the native binary signs in (PBKDF2, the sealed cookie) like the JIT app.
            using (var anonymous = await nativeHttp.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead))
                anonymous.StatusCode.Should().Be(System.Net.HttpStatusCode.Unauthorized);
            using (var login = await nativeHttp.PostAsync("/login", new StringContent("""{"name":"demo","password":"change-me-now"}""", System.Text.Encoding.UTF8, "application/json")))
                login.StatusCode.Should().Be(System.Net.HttpStatusCode.OK, await login.Content.ReadAsStringAsync());
            (await nativeHttp.GetStringAsync("/me")).Should().Be("""{"name":"demo"}""");
            await TemplateAppAnswersAsync(nativeHttp, feedDeadline: TimeSpan.FromSeconds(30));
            await NativeAotTests.CheckBindingRoutesAsync(binary.Url);
        }
    }

    /// <summary>What the template's app answers, JIT-compiled or native: its greeting, its page, and the first tick of its feed.</summary>
    private static async Task TemplateAppAnswersAsync(HttpClient http, TimeSpan feedDeadline)
    {
        (await http.GetStringAsync("/hello/ana")).Should().Be("""{"greeting":"Hello, ana!"}""");
        (await http.GetStringAsync("/")).Should().Contain("EventSource");
        using var stop = new CancellationTokenSource(feedDeadline);
        using var feed = await http.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead, stop.Token);
        using var reader = new StreamReader(await feed.Content.ReadAsStreamAsync(stop.Token));
        (await reader.ReadLineAsync(stop.Token)).Should().Be("event: tick");
        (await reader.ReadLineAsync(stop.Token)).Should().StartWith("data: {\"count\":1,");
    }

    [Test]
    public async Task The_library_package_carries_readme_icon_license_docs_and_source_link()
    {
        var feed = Directory.CreateTempSubdirectory("bocata-pack").FullName;
        try
        {
            var pack = await RunAsync(Root, "pack", "Framework/Framework.csproj", "-c", Configuration, "--no-build", "--disable-build-servers", "-o", feed);
            pack.Code.Should().Be(0, pack.Output);
            using var package = ZipFile.OpenRead(Path.Combine(feed, $"Bocata.{ShippedVersion()}.nupkg"));
            package.Entries.Select(e => e.FullName).Should().Contain(["README.md", "icon.png", "lib/net10.0/Bocata.dll", "lib/net10.0/Bocata.xml",
                "analyzers/dotnet/cs/Bocata.Generators.dll", "build/Bocata.props", "buildTransitive/Bocata.props"], "the source generator ships inside the package, switched on by its props");
            using var nuspec = new StreamReader(package.GetEntry("Bocata.nuspec")!.Open());
            var text = await nuspec.ReadToEndAsync();
            text.Should().Contain("<license type=\"expression\">MIT</license>").And.Contain("<readme>README.md</readme>").And.Contain("<icon>icon.png</icon>");
            text.Should().Contain("<repository type=\"git\"", "SourceLink records the commit the package was built from");
        }
        finally
        {
            Directory.Delete(feed, recursive: true);
        }
    }

    [TestCase("Framework/Framework.csproj", "Bocata")]
    [TestCase("Framework.Redis/Framework.Redis.csproj", "Bocata.Redis")]
    public async Task Every_pack_validates_the_public_api_against_the_baseline_package(string project, string packageId)
    {
        var query = await RunAsync(Root, "msbuild", project, "-getProperty:EnablePackageValidation", "-getProperty:PackageValidationBaselinePath", "--disable-build-servers");
        query.Code.Should().Be(0, query.Output);
        var properties = System.Text.Json.JsonDocument.Parse(query.Output[query.Output.IndexOf('{')..]).RootElement.GetProperty("Properties");
        properties.GetProperty("EnablePackageValidation").GetString().Should().Be("true");
        var baseline = properties.GetProperty("PackageValidationBaselinePath").GetString();
        Path.GetFileName(baseline).Should().StartWith(packageId + ".0.").And.EndWith(".nupkg");
        File.Exists(baseline).Should().BeTrue($"{baseline} is the API every later version must keep");
        using var package = ZipFile.OpenRead(baseline!);
        package.Entries.Should().Contain(e => e.FullName == $"lib/net10.0/{packageId}.dll");
    }

    private static string ShippedVersion() =>
        XDocument.Load(Path.Combine(Root, "packaging", "Package.props")).Descendants("Version").Single().Value;

    /// <summary>`dotnet run` of the generated app on a port, waiting for its startup line.</summary>
    private sealed class RunningApp : IAsyncDisposable
    {
        private readonly Process _process;

        private RunningApp(Process process, string url)
        {
            _process = process;
            Url = url;
        }

        public string Url { get; }

        public static async Task<RunningApp> StartAsync(string app, int port)
        {
            var start = new ProcessStartInfo("dotnet", ["run", "--project", "MyApp", "--no-restore", "--disable-build-servers"])
            {
                WorkingDirectory = app,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
            var process = Process.Start(start)!;
            var started = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line && line.Contains("Bocata running on ", StringComparison.Ordinal)) started.TrySetResult(line.Split(' ')[3]);
            };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var url = await started.Task.WaitAsync(TimeSpan.FromSeconds(90));
            return new RunningApp(process, url);
        }

        public async ValueTask DisposeAsync()
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
