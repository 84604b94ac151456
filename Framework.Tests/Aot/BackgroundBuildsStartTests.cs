using Bocata.Tests.Toolchain;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Aot;

/// <summary>
/// Starts the suite's two long builds (<see cref="BackgroundBuilds"/>) at the beginning of the run: NUnit runs this namespace
/// first, and the tests that check the builds (<c>Bocata.Tests.Toolchain</c>) near the end, so the builds overlap the tests
/// that mostly wait on sockets and timers.
/// </summary>
[TestFixture]
public class BackgroundBuildsStartTests
{
    [Test]
    public void The_native_publish_and_the_template_path_start_in_the_background()
    {
        BackgroundBuilds.Start();
        BackgroundBuilds.TemperatureFeed.IsFaulted.Should().BeFalse();
        BackgroundBuilds.Template.IsFaulted.Should().BeFalse();
    }
}
