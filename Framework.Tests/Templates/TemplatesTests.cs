using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Templates;

public class TemplatesTests
{
    private string _dir = null!;

    [SetUp]
    public void CreateTemplates()
    {
        _dir = Directory.CreateTempSubdirectory("bocata-templates").FullName;
        File.WriteAllText(Path.Combine(_dir, "index.html"), "<h1>Hello, {{ name }}!</h1>{% for item in items %}<li>{{ item }}</li>{% endfor %}");
        File.WriteAllText(Path.Combine(_dir, "page.html"), "{% include 'header' %}<p>{{ body }}</p>");
        File.WriteAllText(Path.Combine(_dir, "header.liquid"), "<header>{{ title }}</header>");
    }

    [TearDown]
    public void Delete() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task Renders_a_file_with_a_model_and_escapes_html()
    {
        var templates = new Bocata.Templates(_dir);
        var app = TestApps.Quiet();
        app.Route("/{name}", async (Request req, Response res, string name) =>
            res.Html = await templates.RenderAsync("index.html", new { name, items = new[] { "a", "<b>" } }));
        await using var client = app.CreateClient();

        var html = await client.GetStringAsync("/<script>");

        html.Should().Be("<h1>Hello, &lt;script&gt;!</h1><li>a</li><li>&lt;b&gt;</li>");
    }

    [Test]
    public async Task Includes_other_templates_and_picks_up_edits()
    {
        var templates = new Bocata.Templates(_dir);
        (await templates.RenderAsync("page.html", new { title = "T", body = "B" })).Should().Be("<header>T</header><p>B</p>");

        File.WriteAllText(Path.Combine(_dir, "index.html"), "changed {{ name }}");
        File.SetLastWriteTimeUtc(Path.Combine(_dir, "index.html"), DateTime.UtcNow.AddSeconds(5));
        (await templates.RenderAsync("index.html", new { name = "x" })).Should().Be("changed x");
    }

    [Test]
    public async Task Bad_names_and_syntax_errors_are_explained()
    {
        var templates = new Bocata.Templates(_dir);
        await FluentActions.Awaiting(() => templates.RenderAsync("../secret.html")).Should().ThrowAsync<ArgumentException>().WithMessage("*outside the templates folder*");
        await FluentActions.Awaiting(() => templates.RenderAsync("missing.html")).Should().ThrowAsync<FileNotFoundException>();
        await FluentActions.Awaiting(() => templates.RenderStringAsync("{% for %}")).Should().ThrowAsync<InvalidOperationException>().WithMessage("*Template error*");
    }
}
