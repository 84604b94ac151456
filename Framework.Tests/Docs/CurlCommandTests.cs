using System.Text.RegularExpressions;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Docs;

/// <summary>The curl commands in the docs work as shown: curl's <c>-d</c> sends a form (which a JSON endpoint answers with 415)
/// unless the command says the body is JSON.</summary>
public partial class CurlCommandTests
{
    [Test]
    public void Every_curl_that_posts_json_says_it_is_json()
    {
        var files = Directory.GetFiles(Path.Combine(TestApps.Root, "docs"), "*.md", SearchOption.AllDirectories)
            .Append(Path.Combine(TestApps.Root, "README.md"));
        var posts = files.SelectMany(file => File.ReadAllLines(file)
                .Where(line => JsonBody().IsMatch(line))
                .Select(line => $"{Path.GetRelativePath(TestApps.Root, file)}: {line.Trim()}"))
            .ToList();

        posts.Should().NotBeEmpty("the tutorials post JSON with curl");
        posts.Where(line => !line.Contains("Content-Type: application/json", StringComparison.OrdinalIgnoreCase)).Should().BeEmpty();
    }

    [GeneratedRegex(@"\bcurl\b.*(?:-d|--data(?:-raw|-binary)?)\s+'[\[{]")]
    private static partial Regex JsonBody();
}
