using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.OpenApi;

/// <summary>An independent OpenAPI 3.2 linter, Redocly CLI (<c>@redocly/cli</c>, see <see cref="OpenApiLinter"/>), reads the documents
/// the /docs page renders. The fixture stands in for <c>app.OpenApi</c>'s document until it lands; <see cref="OpenApiLinter.LintAsync"/>
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
