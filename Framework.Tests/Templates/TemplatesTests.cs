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

/// <summary>Review defect 7: a template reads the model's own members, not every public property reachable from it.</summary>
public class TemplateMemberAccessTests
{
    public sealed record Secret(string Password);
    public sealed record Item(string Title, object Extra);
    public sealed record Todo(string Title, bool Done);
    public sealed record Board(string Name, List<Todo> Todos, Dictionary<string, Todo> ByKey);

    [Test]
    public async Task An_object_held_through_an_object_member_is_not_readable_unless_allowed()
    {
        var templates = new Bocata.Templates("templates");
        var model = new { item = new Item("title", new Secret("hunter2")) };

        (await templates.RenderStringAsync("{{ item.Title }}|{{ item.Extra.Password }}", model)).Should().Be("title|");

        templates.Allow<Secret>();
        (await templates.RenderStringAsync("{{ item.Title }}|{{ item.Extra.Password }}", model)).Should().Be("title|hunter2");
    }

    [Test]
    public async Task Framework_objects_in_the_model_render_but_their_members_are_unreachable()
    {
        var templates = new Bocata.Templates("templates");
        var app = new App();
        var model = new { type = typeof(string), app, when = new DateTime(2026, 1, 2, 0, 0, 0, DateTimeKind.Utc) };

        var output = await templates.RenderStringAsync("[{{ type.Assembly.Location }}][{{ type.Name }}][{{ app.Settings }}][{{ when | date: '%Y' }}]", model);

        output.Should().Be("[][][][2026]");
    }

    [Test]
    public async Task The_models_own_types_lists_dictionaries_and_nested_anonymous_objects_stay_readable()
    {
        var templates = new Bocata.Templates("templates");
        var board = new Board("home", [new Todo("a", true), new Todo("b", false)], new() { ["k"] = new Todo("c", true) });
        var model = new { board, extra = (object)new { note = "anonymous" } };

        var output = await templates.RenderStringAsync(
            "{{ board.Name }}:{% for t in board.Todos %}{{ t.Title }}{% if t.Done %}+{% endif %}{% endfor %}:{{ board.ByKey.k.Title }}:{{ extra.note }}", model);

        output.Should().Be("home:a+b:c:anonymous");
    }
}

/// <summary>Developer-experience issue, item 9: Liquid's json filter is HTML-escaped (quotes become &amp;quot;), which breaks inline
/// scripts; tojson (Jinja's) is script-safe JSON, and reveals no more than the template could read.</summary>
public class ToJsonFilterTests
{
    public sealed record Point(int X, string Label);
    public sealed record Box(object Hidden);
    public sealed record Secret(string Password);

    [Test]
    public async Task Tojson_is_raw_script_safe_json()
    {
        var templates = new Bocata.Templates("templates");

        var output = await templates.RenderStringAsync("<script>const data = {{ points | tojson }};</script>",
            new { points = new[] { new Point(1, "a</script><b>\"'&") } });

        output.Should().Be("""<script>const data = [{"x":1,"label":"a\u003C/script\u003E\u003Cb\u003E\u0022\u0027\u0026"}];</script>""");
    }

    [Test]
    public async Task Tojson_does_not_reveal_what_the_template_cannot_read()
    {
        var templates = new Bocata.Templates("templates");

        var output = await templates.RenderStringAsync("{{ box | tojson }}", new { box = new Box(new Secret("hunter2")) });

        output.Should().Be("""{"hidden":{}}""");
    }
}

/// <summary>Bocadillo fidelity: templates with a global context, and synchronous rendering (render_sync).</summary>
public class TemplateContextTests
{
    [Test]
    public async Task Global_context_is_seen_by_every_template_and_the_model_wins_on_a_clash()
    {
        var templates = new Bocata.Templates("templates", context: new { site = "Bocata", year = 2026 });
        templates.Context["motto"] = "fast";

        (await templates.RenderStringAsync("{{ site }} {{ year }} {{ motto }} {{ name }}", new { name = "ana" })).Should().Be("Bocata 2026 fast ana");
        templates.RenderString("{{ site }}", new { site = "mine" }).Should().Be("mine");
        templates.RenderString("{{ site }}").Should().Be("Bocata");
    }

    [Test]
    public void Render_is_synchronous_too()
    {
        var dir = Directory.CreateTempSubdirectory("bocata-sync").FullName;
        File.WriteAllText(Path.Combine(dir, "hi.html"), "hi {{ name }}");
        var templates = new Bocata.Templates(dir, new Dictionary<string, object?> { ["greeting"] = "hello" });

        templates.Render("hi.html", new { name = "<b>" }).Should().Be("hi &lt;b&gt;");
        templates.RenderString("{{ greeting }}").Should().Be("hello");
        Directory.Delete(dir, recursive: true);
    }
}
