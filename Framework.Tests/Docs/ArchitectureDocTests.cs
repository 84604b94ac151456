using System.Text.RegularExpressions;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Docs;

/// <summary>docs/architecture.md names the files a request, a publish and a resume go through: each must exist.</summary>
public partial class ArchitectureDocTests
{
    private static string Root => Path.GetFullPath(Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", ".."));

    [GeneratedRegex(@"`((?:Framework|Framework\.Redis|Framework\.Sqlite)/[A-Za-z0-9_./]+\.(?:cs|lua))`")]
    private static partial Regex FilePath();

    [Test]
    public void Every_file_the_architecture_page_names_exists()
    {
        var page = File.ReadAllText(Path.Combine(Root, "docs", "architecture.md"));
        var named = FilePath().Matches(page).Select(m => m.Groups[1].Value).Distinct().ToList();
        named.Should().HaveCountGreaterThan(15, "the page walks the request, publish and resume paths file by file");
        named.Where(path => !File.Exists(Path.Combine(Root, path))).Should().BeEmpty("docs/architecture.md names files that are gone: update it");
    }
}
