using Bocata.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using static Bocata.Tests.Middleware.ErrorHandlingTests;

namespace Bocata.Tests.Hosting;

/// <summary>Developer-experience issue, item 5: relative folders resolve against a documented content root, not silently against
/// whatever directory the app was started from, and a configured folder that does not exist is a startup warning.</summary>
[NonParallelizable]
public class ContentRootTests
{
    private string _cwd = "";
    private string _elsewhere = "";

    [SetUp]
    public void MoveAway()
    {
        _cwd = Environment.CurrentDirectory;
        _elsewhere = Directory.CreateTempSubdirectory("bocata-cwd").FullName;
        Environment.CurrentDirectory = _elsewhere;   // the app runs from somewhere else
    }

    [TearDown]
    public void ComeBack()
    {
        Environment.CurrentDirectory = _cwd;
        Directory.Delete(_elsewhere, recursive: true);
    }

    [Test]
    public async Task Relative_files_static_folders_and_templates_are_found_under_the_content_root_from_any_directory()
    {
        // The test assembly's output folder is the content root; put the app's folders there, as CopyToOutputDirectory does.
        var root = ContentRoot.Directory;
        var folder = $"content-{Guid.NewGuid():N}";
        Directory.CreateDirectory(Path.Combine(root, folder, "templates"));
        await File.WriteAllTextAsync(Path.Combine(root, folder, "page.txt"), "page");
        await File.WriteAllTextAsync(Path.Combine(root, folder, "site.css"), "body{}");
        await File.WriteAllTextAsync(Path.Combine(root, folder, "templates", "hi.html"), "hi {{ name }}");
        try
        {
            var templates = new Bocata.Templates($"{folder}/templates");
            var app = TestApps.Quiet();
            app.Route("/page", (req, res) => res.File($"{folder}/page.txt", attach: false));
            app.Route("/hi", async (req, res) => res.Html = await templates.RenderAsync("hi.html", new { name = "ana" }));
            app.Mount("/assets", Static.Files(folder));
            await using var client = app.CreateClient();

            (await client.GetStringAsync("/page")).Should().Be("page");
            (await client.GetStringAsync("/hi")).Should().Be("hi ana");
            (await client.GetStringAsync("/assets/site.css")).Should().Be("body{}");
        }
        finally
        {
            Directory.Delete(Path.Combine(root, folder), recursive: true);
        }
    }

    [Test]
    public void A_path_only_the_current_directory_has_is_taken_from_there()
    {
        File.WriteAllText(Path.Combine(_elsewhere, "local.txt"), "x");
        ContentRoot.Resolve("local.txt").Should().Be(Path.Combine(_elsewhere, "local.txt"));
        ContentRoot.Resolve("missing.txt").Should().Be(Path.Combine(ContentRoot.Directory, "missing.txt"));
        ContentRoot.Resolve("/etc/hostname").Should().Be("/etc/hostname");
    }

    [Test]
    public async Task A_configured_static_folder_that_does_not_exist_is_a_startup_warning()
    {
        var logs = new ListLoggerProvider();
        var app = new App();
        app.Configure(s => { s.StaticDir = "public"; s.AccessLog = false; s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs)); });
        await using var client = app.CreateClient();

        lock (logs.Messages) logs.Messages.Should().Contain(m => m.StartsWith("Warning StaticDir 'public' does not exist") && m.Contains("CopyToOutputDirectory"));
    }
}
