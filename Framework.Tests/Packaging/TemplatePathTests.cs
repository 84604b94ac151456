using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Packaging;

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
        var work = Directory.CreateTempSubdirectory("bocata-template").FullName;
        var feed = Path.Combine(work, "feed");
        var hive = Path.Combine(work, "hive");
        var version = $"{ShippedVersion()}-ci.{DateTime.UtcNow:yyyyMMddHHmmss}{Random.Shared.Next(1000):000}";
        try
        {
            // The library as built for this test run (no rebuild), and the template package.
            var pack = await RunAsync(Root, "pack", "Framework/Framework.csproj", "-c", Configuration, "--no-build", "--disable-build-servers", "-o", feed, $"-p:Version={version}");
            pack.Code.Should().Be(0, pack.Output);
            pack = await RunAsync(Root, "pack", "Templates/Bocata.Templates.csproj", "-c", Configuration, "--disable-build-servers", "-o", feed, $"-p:Version={version}");
            pack.Code.Should().Be(0, pack.Output);
            File.Exists(Path.Combine(feed, $"Bocata.{version}.nupkg")).Should().BeTrue();
            File.Exists(Path.Combine(feed, $"Bocata.{version}.snupkg")).Should().BeTrue("symbols ship as a .snupkg");

            var install = await RunAsync(work, "new", "install", Path.Combine(feed, $"Bocata.Templates.{version}.nupkg"), "--debug:custom-hive", hive);
            install.Code.Should().Be(0, install.Output);
            var created = await RunAsync(work, "new", "bocata", "-o", "MyApp", "--port", "8123", "--local-feed", feed, "--debug:custom-hive", hive);
            created.Code.Should().Be(0, created.Output);
            var app = Path.Combine(work, "MyApp");

            // The template references the Bocata version it shipped with; this run's feed has the CI version.
            var csproj = Path.Combine(app, "MyApp", "MyApp.csproj");
            var project = XDocument.Load(csproj);
            var reference = project.Descendants("PackageReference").Single(e => (string?)e.Attribute("Include") == "Bocata");
            reference.Attribute("Version")!.Value.Should().Be(ShippedVersion(), "the template and the library ship together");
            reference.SetAttributeValue("Version", version);
            project.Save(csproj);
            // --local-feed wrote the app's own nuget.config (nothing global): the restore below finds Bocata through it.
            (await File.ReadAllTextAsync(Path.Combine(app, "nuget.config"))).Should().Contain($"value=\"{feed}\"");
            (await File.ReadAllTextAsync(Path.Combine(app, "MyApp", "Program.cs"))).Should().Contain(": 8123;", "--port sets the default port");

            var test = await RunAsync(app, "test", "--disable-build-servers");
            test.Code.Should().Be(0, test.Output);
            test.Output.Should().Contain("Passed!").And.Contain("Passed:     2");

            await using var running = await RunningApp.StartAsync(app, TestApps.FreePort());
            using var http = new HttpClient { BaseAddress = new Uri(running.Url) };
            await TemplateAppAnswersAsync(http, feedDeadline: TimeSpan.FromSeconds(15));
            (await http.GetStringAsync("/static/index.html")).Should().Contain("EventSource", "the template's static/ folder is served at /static");
            // dotnet run is a Debug build: static files come from the project folder, so a saved edit shows without a rebuild.
            await File.AppendAllTextAsync(Path.Combine(app, "MyApp", "static", "index.html"), "<!-- edited while running -->");
            (await http.GetStringAsync("/static/index.html")).Should().Contain("<!-- edited while running -->");
            (await http.GetStringAsync("/")).Should().Contain("<!-- edited while running -->", "res.File reads the project folder's copy too");

            // --aot: PublishAot on and JSON through a context. Built with the trim/AOT analyzers on and the package's source
            // generator binding the typed handler: no warning at all, and the same tests pass.
            created = await RunAsync(work, "new", "bocata", "-o", "MyAotApp", "--aot", "--local-feed", feed, "--debug:custom-hive", hive);
            created.Code.Should().Be(0, created.Output);
            var aotApp = Path.Combine(work, "MyAotApp");
            var aotProject = Path.Combine(aotApp, "MyAotApp", "MyAotApp.csproj");
            project = XDocument.Load(aotProject);
            project.Descendants("PublishAot").Single().Value.Should().Be("true");
            project.Descendants("PackageReference").Single(e => (string?)e.Attribute("Include") == "Bocata").SetAttributeValue("Version", version);
            project.Save(aotProject);
            var aotTest = await RunAsync(aotApp, "test", "--disable-build-servers", "-p:TreatWarningsAsErrors=true", "-p:EmitCompilerGeneratedFiles=true");
            aotTest.Code.Should().Be(0, aotTest.Output);
            aotTest.Output.Should().Contain("Passed:     2").And.NotContain("warning");
            var generated = Directory.GetFiles(Path.Combine(aotApp, "MyAotApp", "obj"), "BocataBinders.g.cs", SearchOption.AllDirectories);
            generated.Should().ContainSingle("the generator in the Bocata package ran");
            (await File.ReadAllTextAsync(generated[0])).Should().Contain("InterceptsLocationAttribute(1, ").And.Contain("binder.Parameter<string>(\"name\"");

            // ... and published Native AOT from the package, with the typed handlers, view, WebSocket handler, anonymous JSON,
            // unregistered JSON context and compression of NativeAotTests.BindingRoutes added: zero warnings; the binary serves
            // the template's page, greeting and feed, and answers every binding check.
            if (!Aot.NativeAotTests.OnPath("clang")) Assert.Ignore("The template's --aot app was built and tested; publishing it Native AOT needs clang and zlib1g-dev (apt-get install -y clang zlib1g-dev), which .ci/run installs.");
            await File.WriteAllTextAsync(Path.Combine(aotApp, "MyAotApp", "BindingRoutes.cs"), Aot.NativeAotTests.BindingRoutes);
            var program = Path.Combine(aotApp, "MyAotApp", "Program.cs");
            var source = await File.ReadAllTextAsync(program);
            source.Should().Contain("AppFactory.Create().Run(");
            await File.WriteAllTextAsync(program, source.Replace("MyAotApp.AppFactory.Create().Run(", "AotBinding.BindingRoutes.Add(MyAotApp.AppFactory.Create(s => s.Gzip = true)).Run(", StringComparison.Ordinal));
            var native = Path.Combine(work, "native");
            var publish = await Bocata.Tests.Testing.DotnetCli.RunAsync(aotApp, TimeSpan.FromMinutes(6), "publish", "MyAotApp/MyAotApp.csproj", "-c", "Release", "-r", "linux-x64", "-o", native, "--disable-build-servers");
            publish.Code.Should().Be(0, publish.Output);
            Aot.NativeAotTests.Warnings(publish.Output).Should().BeEmpty("the template's AOT app publishes with no warning");
            File.Exists(Path.Combine(native, "MyAotApp.dll")).Should().BeFalse("a native binary, not IL for the JIT");
            await using (var binary = await Bocata.Tests.Testing.ExampleProcess.StartExecutableAsync(Path.Combine(native, "MyAotApp")))
            {
                using var nativeHttp = new HttpClient { BaseAddress = new Uri(binary.Url) };
                await TemplateAppAnswersAsync(nativeHttp, feedDeadline: TimeSpan.FromSeconds(30));
                await Aot.NativeAotTests.CheckBindingRoutesAsync(binary.Url);
            }
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
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
