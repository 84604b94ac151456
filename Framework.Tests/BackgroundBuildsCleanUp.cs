using NUnit.Framework;

namespace Bocata.Tests;

/// <summary>Deletes what the background builds (<see cref="Toolchain.BackgroundBuilds"/>) made, once every test has run.</summary>
[SetUpFixture]
public sealed class BackgroundBuildsCleanUp
{
    [OneTimeTearDown]
    public Task CleanUp() => Toolchain.BackgroundBuilds.CleanUpAsync();
}
