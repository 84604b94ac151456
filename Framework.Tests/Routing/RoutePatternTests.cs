using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

public class RoutePatternTests
{
    private static Dictionary<string, string>? Match(string pattern, string path)
    {
        var compiled = RoutePattern.Parse(pattern);
        var values = new RouteValues();
        if (!compiled.TryMatch(path, values.Captures)) return null;
        values.Set(path, compiled);
        return values.ToDictionary(p => p.Key, p => p.Value);
    }

    [TestCase("/", "/", true)]
    [TestCase("/", "/x", false)]
    [TestCase("/items", "/items", true)]
    [TestCase("/items", "/items/", false)]
    [TestCase("/items/", "/items/", true)]
    [TestCase("/items/", "/items", false)]
    [TestCase("/items/{pk}", "/items/42", true)]
    [TestCase("/items/{pk}", "/items/", false)]
    [TestCase("/items/{pk}", "/items/42/more", false)]
    [TestCase("/items/{}", "/items/anything", true)]
    [TestCase("/items/{}/x", "/items//x", false)]
    [TestCase("/files/{rest:path}", "/files/a/b/c.txt", true)]
    [TestCase("/files/{rest:path}", "/filesx", false)]
    [TestCase("/v{version}/docs", "/v2/docs", true)]
    [TestCase("/v{version}/docs", "/v/docs", false)]
    [TestCase("/{a}.{ext}", "/report.tar.gz", true)]
    public void Matches_only_what_the_pattern_describes(string pattern, string path, bool expected) =>
        (Match(pattern, path) is not null).Should().Be(expected);

    [Test]
    public void Captures_named_parameters_and_the_rest_of_the_path()
    {
        Match("/users/{user}/posts/{post}", "/users/ana/posts/7").Should().Equal(new Dictionary<string, string> { ["user"] = "ana", ["post"] = "7" });
        Match("/files/{rest:path}", "/files/a/b/c.txt").Should().Equal(new Dictionary<string, string> { ["rest"] = "a/b/c.txt" });
        Match("/{a}.{ext}", "/report.tar.gz").Should().Equal(new Dictionary<string, string> { ["a"] = "report", ["ext"] = "tar.gz" });
        Match("/items/{}/{pk}", "/items/x/3").Should().Equal(new Dictionary<string, string> { ["pk"] = "3" });
    }

    [TestCase("/items/{pk", "without a matching '}'")]
    [TestCase("/items/pk}", "without a matching '{'")]
    [TestCase("/items/{pk}/{pk}", "twice")]
    [TestCase("/items/{pk:int}", "unknown specifier ':int'")]
    [TestCase("/items/{1x}", "not a valid parameter name")]
    [TestCase("/items/{a}{b}", "side by side")]
    [TestCase("/files/{rest:path}/x", "must be the whole last segment")]
    public void Rejects_bad_patterns_with_a_message_that_says_how_to_fix_them(string pattern, string message) =>
        FluentActions.Invoking(() => RoutePattern.Parse(pattern)).Should().Throw<ArgumentException>().WithMessage($"*{message}*");

    [Test]
    public void Formats_urls_with_escaped_values()
    {
        var pattern = RoutePattern.Parse("/users/{name}/files/{rest:path}");
        pattern.Format(new Dictionary<string, object?> { ["name"] = "a b/c?", ["rest"] = "x y/z" })
            .Should().Be("/users/a%20b%2Fc%3F/files/x%20y/z");
    }
}
