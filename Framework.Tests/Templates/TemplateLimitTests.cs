using System.Diagnostics;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Templates;

/// <summary>A template from a user cannot run for seconds or build gigabytes: steps, string sizes and output are bounded.</summary>
public class TemplateLimitTests
{
    [Test]
    public async Task A_loop_of_ten_million_steps_stops_at_MaxSteps_with_an_error_that_says_so()
    {
        var templates = new Bocata.Templates("no-such-folder");
        var stopwatch = Stopwatch.StartNew();
        var error = await FluentActions.Awaiting(() => templates.RenderStringAsync("{% for i in (1..10000000) %}{% endfor %}"))
            .Should().ThrowAsync<InvalidOperationException>();
        error.Which.Message.Should().Contain("MaxSteps");
        TestContext.Out.WriteLine($"stopped after {stopwatch.ElapsedMilliseconds} ms");
    }

    [Test]
    public async Task Strings_doubled_by_append_or_capture_stop_at_MaxOutputLength()
    {
        var templates = new Bocata.Templates("no-such-folder") { MaxOutputLength = 1_000_000 };
        var doubling = "{% assign s = 'x' %}" + string.Concat(Enumerable.Repeat("{% assign s = s | append: s %}", 24)) + "{{ s.size }}";
        (await FluentActions.Awaiting(() => templates.RenderStringAsync(doubling)).Should().ThrowAsync<InvalidOperationException>())
            .Which.Message.Should().Contain("MaxOutputLength");
        var capture = "{% assign s = 'xxxxxxxxxx' %}" + string.Concat(Enumerable.Repeat("{% capture s %}{{ s }}{{ s }}{% endcapture %}", 24)) + "{{ s.size }}";
        (await FluentActions.Awaiting(() => templates.RenderStringAsync(capture)).Should().ThrowAsync<InvalidOperationException>())
            .Which.Message.Should().Contain("MaxOutputLength");
        var output = "{% for i in (1..200000) %}xxxxxxxxxx{% endfor %}";
        (await FluentActions.Awaiting(() => templates.RenderStringAsync(output)).Should().ThrowAsync<InvalidOperationException>())
            .Which.Message.Should().Contain("MaxOutputLength");
        FluentActions.Invoking(() => templates.RenderString(output)).Should().Throw<InvalidOperationException>();
    }

    [Test]
    public async Task Ordinary_templates_render_as_before()
    {
        var templates = new Bocata.Templates("no-such-folder");
        (await templates.RenderStringAsync("{% for i in (1..3) %}{{ i }}{% endfor %} {{ 'a' | append: 'b' | prepend: 'c' }}")).Should().Be("123 cab");
    }
}
