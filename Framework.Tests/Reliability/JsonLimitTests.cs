using System.Net;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>DoS issue, item 2: a parsed JSON body costs several times its size, so it has its own limit far below the raw one,
/// refused before the body is buffered, with a per-route override.</summary>
[NonParallelizable]
public class JsonLimitTests
{
    private sealed class Generated(long length, bool chunked) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            // [1,1,1,...,1]: many tokens per byte, the costliest shape for a parsed document.
            var chunk = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("1,", 32 * 1024)));
            await stream.WriteAsync("["u8.ToArray());
            long written = 1;
            while (written + chunk.Length + 2 < length)
            {
                await stream.WriteAsync(chunk);
                written += chunk.Length;
            }
            await stream.WriteAsync(Encoding.ASCII.GetBytes(new string(' ', (int)(length - written - 2)) + "1]"));
        }

        protected override bool TryComputeLength(out long size)
        {
            size = length;
            return !chunked;
        }
    }

    private static App NewApp(Action<Settings>? configure = null)
    {
        var app = TestApps.Quiet(configure);
        app.Post("/json", async (req, res) => res.Text = (await req.JsonAsync()).GetArrayLength().ToString());
        app.Post("/import", async (req, res) => res.Text = (await req.JsonAsync()).GetArrayLength().ToString()).MaxBodySize(50_000_000);
        app.Post("/tiny", async (req, res) => res.Text = (await req.BodyAsync()).Length.ToString()).MaxBodySize(1000);
        return app;
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_28_MB_json_body_is_413_without_being_buffered(bool chunked)
    {
        await using var client = NewApp().CreateClient();
        using (var warm = new StringContent("[1]", Encoding.UTF8, "application/json")) await client.PostAsync("/json", warm);

        GC.Collect();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        using var content = new Generated(28_000_000, chunked);
        content.Headers.ContentType = new("application/json");
        HttpResponseMessage response;
        try
        {
            response = await client.PostAsync("/json", content);
        }
        catch (HttpRequestException)
        {
            // The server may answer 413 and close before the client finished sending; the next request shows it stayed up.
            TestContext.Out.WriteLine("the connection closed before the response was read");
            var spent = GC.GetTotalAllocatedBytes(precise: true) - before;
            spent.Should().BeLessThan(8 * 1024 * 1024, $"refused at the 1 MB limit, it allocated {spent / 1024 / 1024.0:F1} MB");
            (await client.PostAsync("/json", new StringContent("[1,2]", Encoding.UTF8, "application/json")).Result.Content.ReadAsStringAsync()).Should().Be("2");
            return;
        }
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        TestContext.Out.WriteLine($"allocated {allocated / 1024 / 1024.0:F2} MB");

        response.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        (await response.TextAsync()).Should().Contain("JSON body too large").And.Contain("1048576");
        allocated.Should().BeLessThan(8 * 1024 * 1024, $"refused at the 1 MB limit, it allocated {allocated / 1024 / 1024.0:F1} MB");
    }

    [Test]
    public async Task A_route_can_raise_or_lower_the_limit()
    {
        await using var client = NewApp().CreateClient();

        using var big = new Generated(3_000_000, chunked: false);
        big.Headers.ContentType = new("application/json");
        var imported = await client.PostAsync("/import", big);
        imported.StatusCode.Should().Be(HttpStatusCode.OK);
        int.Parse(await imported.TextAsync()).Should().BeGreaterThan(1_000_000);

        using var sameOnJson = new Generated(3_000_000, chunked: false);
        sameOnJson.Headers.ContentType = new("application/json");
        (await client.PostAsync("/json", sameOnJson)).StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);

        (await client.PostAsync("/tiny", new ByteArrayContent(new byte[500]))).StatusCode.Should().Be(HttpStatusCode.OK);
        var tooBig = await client.PostAsync("/tiny", new ByteArrayContent(new byte[2000]));
        tooBig.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        (await tooBig.TextAsync()).Should().Contain("1000");
    }

    [Test]
    public void MaxBodySize_explains_a_negative_value() =>
        FluentActions.Invoking(() => new App().Post("/x", (req, res) => { }).MaxBodySize(-1))
            .Should().Throw<ArgumentOutOfRangeException>().WithMessage("*number of bytes*");
}
