using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Bocata.Tests.Sessions;

/// <summary>Session secrets anyone knows are called out; the examples never sign with one.</summary>
[NonParallelizable]
public class SessionSecretTests
{
    [Test]
    public async Task Sessions_signed_with_a_published_secret_log_a_warning_and_a_short_previous_key_is_refused()
    {
        var logs = new Bocata.Tests.Middleware.ErrorHandlingTests.ListLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        var app = TestApps.Quiet(s =>
        {
            s.LoggerFactory = loggers;
            s.Sessions = true;
            s.SecretKey = "example-only-secret-change-me-0123456789";
        });
        app.Route("/", (req, res) => res.Text = "ok");
        await using (var client = app.CreateClient()) (await client.GetStringAsync("/")).Should().Be("ok");
        lock (logs.Messages) logs.Messages.Should().Contain(m => m.StartsWith("Warning") && m.Contains("anyone can forge sessions"));

        var rotated = TestApps.Quiet(s =>
        {
            s.Sessions = true;
            s.SecretKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
            s.PreviousSecretKeys = ["short"];
        });
        rotated.Route("/", (req, res) => res.Text = "ok");
        await FluentActions.Awaiting(async () => { await using var c = rotated.CreateClient(); await c.GetStringAsync("/"); })
            .Should().ThrowAsync<InvalidOperationException>().WithMessage("*PreviousSecretKeys*32*");
    }

    [Test]
    public async Task An_example_without_SECRET_KEY_signs_with_a_random_secret_and_says_so()
    {
        await using var first = await ExampleProcess.StartAsync("Greeter");
        (await first.OutputLinesAsync(l => l.Contains("SECRET_KEY is not set"), TimeSpan.FromSeconds(10))).Should().NotBeEmpty();
    }
}
