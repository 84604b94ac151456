using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Idempotency;

/// <summary>Newcomer round 4, item 4: a POST retried after an instance died must not apply twice (Idempotency-Key, IETF httpapi draft).</summary>
public class IdempotencyTests
{
    private sealed class Bids
    {
        public int Applied;
        public TaskCompletionSource? Gate;
    }

    private static App BidApp(Bids bids, Action<Settings>? configure = null, bool required = false)
    {
        var app = TestApps.Quiet(configure);
        // An app's own authentication (an API key, say): middleware may set req.User.
        app.Use(async (req, res, next) =>
        {
            if (req.Headers["X-User"] is { } name) req.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, name)], "test"));
            await next();
        });
        app.Post("/lots/{lot}/bids", async (Request req, Response res, int lot) =>
        {
            var bid = await req.JsonAsync<Dictionary<string, int>>();
            var n = Interlocked.Increment(ref bids.Applied);
            if (bids.Gate is { } gate) await gate.Task;
            if (bid["amount"] < 0) throw new InvalidOperationException("a bug after the bid was half applied");
            res.StatusCode = 201;
            res.Headers["Location"] = $"/lots/{lot}/bids/{n}";
            res.Json = new { lot, bid = n, amount = bid["amount"] };
        }).Idempotent(required: required);
        return app;
    }

    private static HttpRequestMessage Bid(int amount, string? key, string lot = "7", string? user = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/lots/{lot}/bids") { Content = JsonContent.Create(new { amount }) };
        if (key is not null) request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        if (user is not null) request.Headers.Add("X-User", user);
        return request;
    }

    [Test]
    public async Task A_retry_with_the_same_key_gets_the_first_response_and_does_not_apply_twice()
    {
        var bids = new Bids();
        await using var client = BidApp(bids).CreateClient();

        using var first = await client.SendAsync(Bid(100, "\"8e03978e-40d5-43e8-bc93-6894a57f9324\""));
        using var retry = await client.SendAsync(Bid(100, "\"8e03978e-40d5-43e8-bc93-6894a57f9324\""));

        bids.Applied.Should().Be(1);
        first.StatusCode.Should().Be(HttpStatusCode.Created);
        retry.StatusCode.Should().Be(HttpStatusCode.Created);
        (await retry.TextAsync()).Should().Be(await first.TextAsync()).And.Contain("\"bid\":1");
        retry.Headers.Location.Should().Be(first.Headers.Location);
        retry.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        retry.Headers.GetValues("Idempotent-Replayed").Should().Equal("true");
        first.Headers.Contains("Idempotent-Replayed").Should().BeFalse();
    }

    [Test]
    public async Task Without_a_key_every_request_runs_and_a_new_key_is_a_new_operation()
    {
        var bids = new Bids();
        await using var client = BidApp(bids).CreateClient();

        (await client.SendAsync(Bid(1, null))).StatusCode.Should().Be(HttpStatusCode.Created);
        (await client.SendAsync(Bid(1, null))).StatusCode.Should().Be(HttpStatusCode.Created);
        (await client.SendAsync(Bid(1, "a"))).StatusCode.Should().Be(HttpStatusCode.Created);
        (await client.SendAsync(Bid(1, "b"))).StatusCode.Should().Be(HttpStatusCode.Created);

        bids.Applied.Should().Be(4);
    }

    [Test]
    public async Task The_same_key_for_a_different_request_is_422_and_applies_nothing()
    {
        var bids = new Bids();
        await using var client = BidApp(bids).CreateClient();
        (await client.SendAsync(Bid(100, "k1"))).StatusCode.Should().Be(HttpStatusCode.Created);

        using var otherBody = await client.SendAsync(Bid(200, "k1"));
        using var otherLot = await client.SendAsync(Bid(100, "k1", lot: "8"));

        otherBody.StatusCode.Should().Be(HttpStatusCode.UnprocessableEntity);
        (await otherBody.TextAsync()).Should().Contain("different request");
        otherLot.StatusCode.Should().Be(HttpStatusCode.UnprocessableEntity);
        bids.Applied.Should().Be(1);
    }

    [Test]
    public async Task A_retry_while_the_first_still_runs_is_409_with_retry_after_then_a_replay()
    {
        var bids = new Bids { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var client = BidApp(bids).CreateClient();

        var first = client.SendAsync(Bid(100, "slow"));
        await TestApps.UntilAsync(() => Volatile.Read(ref bids.Applied) == 1);
        using var concurrent = await client.SendAsync(Bid(100, "slow"));
        bids.Gate.SetResult();
        using var done = await first;
        using var later = await client.SendAsync(Bid(100, "slow"));

        concurrent.StatusCode.Should().Be(HttpStatusCode.Conflict);
        concurrent.Headers.RetryAfter!.Delta.Should().Be(TimeSpan.FromSeconds(1));
        done.StatusCode.Should().Be(HttpStatusCode.Created);
        later.StatusCode.Should().Be(HttpStatusCode.Created);
        (await later.TextAsync()).Should().Be(await done.TextAsync());
        bids.Applied.Should().Be(1);
    }

    [Test]
    public async Task A_handler_that_failed_keeps_nothing_so_its_retry_runs_again()
    {
        var bids = new Bids();
        await using var client = BidApp(bids).CreateClient();

        (await client.SendAsync(Bid(-1, "bug"))).StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        (await client.SendAsync(Bid(-1, "bug"))).StatusCode.Should().Be(HttpStatusCode.InternalServerError);

        bids.Applied.Should().Be(2, "a failure is not an answer to replay");
    }

    [Test]
    public async Task Keys_belong_to_their_user()
    {
        var bids = new Bids();
        await using var client = BidApp(bids).CreateClient();

        using var ana = await client.SendAsync(Bid(100, "same", user: "ana"));
        using var bob = await client.SendAsync(Bid(100, "same", user: "bob"));

        bids.Applied.Should().Be(2, "bob's request is his own operation, and never answered with ana's response");
        (await bob.TextAsync()).Should().Contain("\"bid\":2");
        bob.Headers.Contains("Idempotent-Replayed").Should().BeFalse();
    }

    [Test]
    public async Task A_required_key_is_a_400_when_missing_and_a_bad_key_is_a_400()
    {
        var bids = new Bids();
        await using var client = BidApp(bids, required: true).CreateClient();

        using var missing = await client.SendAsync(Bid(1, null));
        using var tooLong = await client.SendAsync(Bid(1, new string('k', 256)));

        missing.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await missing.TextAsync()).Should().Contain("Idempotency-Key");
        tooLong.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        bids.Applied.Should().Be(0);
    }

    [Test]
    public async Task The_memory_store_forgets_the_oldest_keys_past_its_bound_and_expired_ones()
    {
        var clock = new ManualClock();
        var store = new MemoryIdempotencyStore(clock) { MaxEntries = 100 };
        for (var i = 0; i < 1000; i++)
        {
            (await store.TryReserveAsync($"k{i}", "f", TimeSpan.FromMinutes(1))).Should().BeNull();
            await store.CompleteAsync($"k{i}", new IdempotentEntry { Fingerprint = "f", Completed = true, Status = 201 }, TimeSpan.FromHours(1));
        }
        store.Count.Should().BeLessThanOrEqualTo(100);
        (await store.TryReserveAsync("k999", "f", TimeSpan.FromMinutes(1)))!.Status.Should().Be(201, "the newest are kept");

        clock.Advance(TimeSpan.FromHours(2));
        (await store.TryReserveAsync("k999", "f", TimeSpan.FromMinutes(1))).Should().BeNull("an expired key is a new operation");
    }

    [Test]
    public void A_non_positive_window_says_how_to_call_it()
    {
        var app = new App();
        var act = () => app.Post("/x", (req, res) => { }).Idempotent(TimeSpan.Zero);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*positive duration*Idempotent(TimeSpan.FromHours(24))*");
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 12, 8, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
