using System.Net.Sockets;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>Malformed chunked framing is the client's error on every body reader: a 400 and no stack trace in the log.</summary>
[NonParallelizable]
public class ChunkedBodyTests
{
    [Test]
    public async Task A_chunk_size_that_overflows_is_a_400_on_every_body_reader_with_no_trace_in_the_log()
    {
        var logs = new Bocata.Tests.Middleware.ErrorHandlingTests.ListLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        var app = TestApps.Quiet(s => s.LoggerFactory = loggers);
        app.Post("/body", async (req, res) => res.Text = (await req.BodyAsync()).Length.ToString());
        app.Post("/text", async (req, res) => res.Text = await req.TextAsync());
        app.Post("/json", async (req, res) => res.Json = await req.JsonAsync<Dictionary<string, int>>());
        await using var client = app.CreateClient();

        foreach (var path in new[] { "/body", "/text", "/json" })
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(client.BaseAddress!.Host, client.BaseAddress.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"POST {path} HTTP/1.1\r\nHost: {client.BaseAddress.Authority}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx"));
            var buffer = new byte[4096];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var n = await stream.ReadAsync(buffer, cts.Token);
            var response = Encoding.ASCII.GetString(buffer, 0, n);
            response.Should().StartWith("HTTP/1.1 400", path);
        }
        lock (logs.Messages)
        {
            logs.Messages.Should().NotContain(m => m.StartsWith("Error") || m.Contains("   at "), "a client's malformed body is not a server error");
        }
    }
}
