using System.Collections.Concurrent;
using System.Xml.Linq;
using Bocata.Tests.Testing;
using NUnit.Framework;

namespace Bocata.Tests.Toolchain;

/// <summary>
/// The two slowest things the suite checks are CPU-bound builds of a minute or more: a Native AOT publish of
/// <c>Examples/TemperatureFeed</c>, and the newcomer path from packed packages to a template app published native. Most of the
/// rest of the suite (Redis, reliability, SSE) waits on sockets and timers. So both builds start at the beginning of the run
/// (<see cref="Aot.BackgroundBuildsStartTests"/>, in the first namespace NUnit runs), at the lowest CPU priority, and the
/// tests that check them (this namespace, which NUnit runs after Redis, Reliability and Sse) await what they produced. A test
/// here run on its own starts its build itself. Nothing is asserted in the background: each build records its steps, and the
/// test asserts on them.
/// </summary>
internal static class BackgroundBuilds
{
    private static readonly object Gate = new();
    private static Task<FeedPublish>? _feed;
    private static Task<TemplateBuild>? _template;
    private static readonly ConcurrentBag<string> Folders = [];

    /// <summary>Starts both builds (once) and returns at once.</summary>
    public static void Start()
    {
        _ = TemperatureFeed;
        _ = Template;
    }

    public static bool ClangOnPath => NativeAotTests.OnPath("clang");

    /// <summary>The Native AOT publish of Examples/TemperatureFeed, from a copy of its sources.</summary>
    public static Task<FeedPublish> TemperatureFeed
    {
        get
        {
            lock (Gate)
            {
                if (_feed is null)
                {
                    var root = TestApps.Root;
                    _feed = Task.Run(() => PublishFeedAsync(root));
                }
                return _feed;
            }
        }
    }

    /// <summary>Pack, install the template, <c>dotnet new</c>, <c>dotnet test</c>, and the --aot app published native.</summary>
    public static Task<TemplateBuild> Template
    {
        get
        {
            lock (Gate)
            {
                if (_template is null)
                {
                    var root = TestApps.Root;
                    var configuration = new DirectoryInfo(TestContext.CurrentContext.TestDirectory).Parent!.Name;
                    _template = Task.Run(() => BuildTemplateAsync(root, configuration));
                }
                return _template;
            }
        }
    }

    /// <summary>Waits for a started build (bounded) and deletes the folders the builds made.</summary>
    public static async Task CleanUpAsync()
    {
        Task[] started;
        lock (Gate) started = new Task?[] { _feed, _template }.OfType<Task>().ToArray();
        await Task.WhenAny(Task.WhenAll(started), Task.Delay(TimeSpan.FromMinutes(2)));
        foreach (var folder in Folders)
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private static string TempFolder(string prefix)
    {
        var folder = Directory.CreateTempSubdirectory(prefix).FullName;
        Folders.Add(folder);
        return folder;
    }

    private static Task<(int Code, string Output)> Dotnet(string directory, params string[] args) =>
        DotnetCli.RunAsync(directory, TimeSpan.FromMinutes(8), niced: true, args);

    private static readonly string[] FeedFolders = ["Framework", "Framework.Generators", "packaging", "Examples/TemperatureFeed"];
    private static readonly string[] FeedFiles = ["Directory.Build.props", "global.json", "Examples/Directory.Build.props"];

    private static async Task<FeedPublish> PublishFeedAsync(string root)
    {
        if (!ClangOnPath) return new FeedPublish(null, "", "");
        var work = TempFolder("bocata-aot");
        foreach (var folder in FeedFolders) CopySources(Path.Combine(root, folder), Path.Combine(work, folder));
        foreach (var file in FeedFiles) File.Copy(Path.Combine(root, file), Path.Combine(work, file));
        var output = Path.Combine(work, "native-feed");
        var publish = await Dotnet(work, "publish", "Examples/TemperatureFeed/TemperatureFeed.csproj",
            "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true", "-o", output, "--disable-build-servers");
        return new FeedPublish(new Step("publish", publish.Code, publish.Output), output, Path.Combine(output, "TemperatureFeed"));
    }

    private static async Task<TemplateBuild> BuildTemplateAsync(string root, string configuration)
    {
        var work = TempFolder("bocata-template");
        var build = new TemplateBuild(work, ShippedVersion(root), $"{ShippedVersion(root)}-ci.{DateTime.UtcNow:yyyyMMddHHmmss}{Random.Shared.Next(1000):000}");
        var feed = build.Feed;
        var hive = Path.Combine(work, "hive");

        async Task<bool> Run(string name, string directory, params string[] args)
        {
            var (code, output) = await Dotnet(directory, args);
            build.Steps.Add(new Step(name, code, output));
            return code == 0;
        }

        bool Fail(string name, string why)
        {
            build.Steps.Add(new Step(name, 1, why));
            return false;
        }

        // The library as built for this test run (no rebuild), and the template package.
        _ = await Run("pack Bocata", root, "pack", "Framework/Framework.csproj", "-c", configuration, "--no-build", "--disable-build-servers", "-o", feed, $"-p:Version={build.Version}")
            && await Run("pack the templates", root, "pack", "Templates/Bocata.Templates.csproj", "-c", configuration, "--disable-build-servers", "-o", feed, $"-p:Version={build.Version}")
            && await Run("install the templates", work, "new", "install", Path.Combine(feed, $"Bocata.Templates.{build.Version}.nupkg"), "--debug:custom-hive", hive)
            && await Run("new bocata", work, "new", "bocata", "-o", "MyApp", "--port", "8123", "--local-feed", feed, "--debug:custom-hive", hive)
            && UseVersion(build, Path.Combine(build.App, "MyApp", "MyApp.csproj"), recordShipped: true)
            && await Run("test the app", build.App, "test", "--disable-build-servers")
            // --aot: PublishAot on and JSON through a context, built with the trim/AOT analyzers on; --auth: cookie sign-in and a
            // feed for signed-in users (tested by the app's own tests, and natively below).
            && await Run("new bocata --aot --auth", work, "new", "bocata", "-o", "MyAotApp", "--aot", "--auth", "--local-feed", feed, "--debug:custom-hive", hive)
            && UseVersion(build, Path.Combine(build.AotApp, "MyAotApp", "MyAotApp.csproj"), recordShipped: false)
            && await Run("test the --aot app", build.AotApp, "test", "--disable-build-servers", "-p:TreatWarningsAsErrors=true", "-p:EmitCompilerGeneratedFiles=true")
            && (!ClangOnPath || (AddBindingRoutes(build) || Fail("add the binding routes", "Program.cs has no 'MyAotApp.AppFactory.Create().Run(' to wrap"))
                && await Run("publish the --aot app native", build.AotApp, "publish", "MyAotApp/MyAotApp.csproj", "-c", "Release", "-r", "linux-x64", "-o", build.Native, "--disable-build-servers"));
        return build;
    }

    /// <summary>The template references the Bocata version it shipped with; this run's feed has the CI version.</summary>
    private static bool UseVersion(TemplateBuild build, string csproj, bool recordShipped)
    {
        var project = XDocument.Load(csproj);
        var reference = project.Descendants("PackageReference").Single(e => (string?)e.Attribute("Include") == "Bocata");
        if (recordShipped) build.TemplateReferences = reference.Attribute("Version")!.Value;
        else build.AotPublishAot = project.Descendants("PublishAot").SingleOrDefault()?.Value;
        reference.SetAttributeValue("Version", build.Version);
        project.Save(csproj);
        return true;
    }

    /// <summary>The typed handlers, view, WebSocket handler, anonymous JSON, unregistered JSON context and compression of
    /// <see cref="NativeAotTests.BindingRoutes"/>, added to the --aot app.</summary>
    private static bool AddBindingRoutes(TemplateBuild build)
    {
        File.WriteAllText(Path.Combine(build.AotApp, "MyAotApp", "BindingRoutes.cs"), NativeAotTests.BindingRoutes);
        var program = Path.Combine(build.AotApp, "MyAotApp", "Program.cs");
        var source = File.ReadAllText(program);
        if (!source.Contains("MyAotApp.AppFactory.Create().Run(", StringComparison.Ordinal)) return false;
        File.WriteAllText(program, source.Replace("MyAotApp.AppFactory.Create().Run(", "AotBinding.BindingRoutes.Add(MyAotApp.AppFactory.Create(s => s.Gzip = true)).Run(", StringComparison.Ordinal));
        return true;
    }

    private static string ShippedVersion(string root) =>
        XDocument.Load(Path.Combine(root, "packaging", "Package.props")).Descendants("Version").Single().Value;

    /// <summary>A project folder without its build output.</summary>
    private static void CopySources(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.EnumerateDirectories(from))
            if (Path.GetFileName(dir) is not ("bin" or "obj")) CopySources(dir, Path.Combine(to, Path.GetFileName(dir)));
    }
}

/// <summary>One command of a background build: its exit code and everything it printed.</summary>
internal sealed record Step(string Name, int Code, string Output);

/// <summary>The TemperatureFeed publish; <see cref="Publish"/> is null when clang is missing.</summary>
internal sealed record FeedPublish(Step? Publish, string Output, string Binary);

/// <summary>The template path's folders and the steps that ran, in order (it stops at the first that failed).</summary>
internal sealed class TemplateBuild(string work, string shippedVersion, string version)
{
    public string Work { get; } = work;
    public string ShippedVersion { get; } = shippedVersion;
    public string Version { get; } = version;
    public string Feed => Path.Combine(Work, "feed");
    public string App => Path.Combine(Work, "MyApp");
    public string AotApp => Path.Combine(Work, "MyAotApp");
    public string Native => Path.Combine(Work, "native");
    public List<Step> Steps { get; } = [];
    public string? TemplateReferences { get; set; }
    public string? AotPublishAot { get; set; }
    public Step? this[string name] => Steps.SingleOrDefault(s => s.Name == name);
}
