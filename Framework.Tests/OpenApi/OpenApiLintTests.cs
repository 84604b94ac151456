using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.OpenApi;

/// <summary>An independent OpenAPI 3.2 linter, Redocly CLI (<c>@redocly/cli</c>, see <see cref="OpenApiLinter"/>), reads the documents
/// the /docs page renders. The fixture, TodoApi's generated document and a generated one with every kind of operation; <see cref="OpenApiLinter.LintAsync"/>
/// takes any JSON.</summary>
public sealed class OpenApiLintTests
{
    [SetUp]
    public void RequireLinter()
    {
        if (OpenApiLinter.Executable is null) Assert.Ignore(OpenApiLinter.MissingReason);
    }

    [Test]
    public async Task The_fixture_is_a_valid_OpenAPI_3_2_document()
    {
        var result = await OpenApiLinter.LintAsync(ItemsDocsApp.Document);

        foreach (var problem in result.Problems) TestContext.Out.WriteLine(problem);
        result.Errors.Should().Be(0, result.Output);
    }

    [Test]
    public async Task The_todo_api_s_generated_document_lints_clean()
    {
        await using var client = TodoApi.TodoApp.Create(s => s.AccessLog = false).CreateClient();

        var result = await OpenApiLinter.LintAsync(await client.GetStringAsync("/openapi.json"));

        foreach (var problem in result.Problems) TestContext.Out.WriteLine(problem);
        result.Errors.Should().Be(0, result.Output);
    }

    [Test]
    public async Task A_document_with_event_streams_security_and_typed_parameters_lints_clean()
    {
        // What app.OpenApi writes for an event stream with .Events<T>, a route that .Requires a role, typed path parameters
        // and a JSON body: the parts the examples do not all have.
        var app = TestApps.Quiet(s => { s.AuthCookie = true; s.SecretKey = new string('k', 40); });
        app.OpenApi(title: "Lint", version: "1.0");
        var hub = new EventHub();
        app.Get("/items/{pk}/events", (Request req, Response res, int pk) => res.EventStream(hub.Subscribe(req, $"items/{pk}")))
            .Events<LintItem>("changed").Events<LintRemoved>("removed").Summary("Item changes");
        app.Delete("/items/{pk}", (Request req, Response res, int pk) => res.StatusCode = 204).Requires("admin").Summary("Remove an item");
        app.Post("/items", async (req, res) =>
        {
            var item = await req.JsonAsync<LintItem>();
            res.StatusCode = 201;
            res.Json = item;
        }).Summary("Add an item");
        await using var client = app.CreateClient();

        var result = await OpenApiLinter.LintAsync(await client.GetStringAsync("/openapi.json"));

        foreach (var problem in result.Problems) TestContext.Out.WriteLine(problem);
        result.Errors.Should().Be(0, result.Output);
    }

    public sealed record LintItem(int Id, string Name);

    public sealed record LintRemoved(int Id);

    [Test]
    public async Task The_linter_knows_3_2_event_streams_and_rejects_a_malformed_item_schema()
    {
        // If the linter read 3.2 as 3.1 (or not at all), the test above would prove nothing: a broken itemSchema must fail.
        var broken = ItemsDocsApp.Document.Replace("\"itemSchema\": {", "\"itemSchema\": 5, \"itemSchemas\": {", StringComparison.Ordinal);

        var result = await OpenApiLinter.LintAsync(broken);

        result.Errors.Should().BeGreaterThan(0);
        result.Problems.Should().Contain(p => p.Contains("struct") && p.Contains("/itemSchema:"));
        result.Problems.Should().Contain(p => p.Contains("struct") && p.Contains("itemSchemas"));
    }
}
