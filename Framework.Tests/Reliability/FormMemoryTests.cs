using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Reliability;

/// <summary>Security round 3, finding 1: what one form holds in memory is bounded in total (many small parts go to disk), a
/// client that stalls after a burst is answered 408 whatever its average rate, and temporary files of all uploads together
/// are bounded.</summary>
[NonParallelizable]
public class FormMemoryTests
{
    private static MultipartFormDataContent Parts(int count, int size, bool files)
    {
        var content = new MultipartFormDataContent("----bocata-memory");
        for (var i = 0; i < count; i++)
        {
            if (files)
            {
                var part = new ByteArrayContent(Enumerable.Repeat((byte)('a' + i % 26), size).ToArray());
                part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                content.Add(part, $"f{i}", $"f{i}.bin");
            }
            else
            {
                content.Add(new StringContent(new string('t', size)), $"t{i}");
            }
        }
        return content;
    }

    private static int UploadFiles() => Directory.GetFiles(Path.GetTempPath(), "bocata-upload-*").Length;

    [Test]
    public async Task Small_file_parts_past_the_forms_memory_go_to_temporary_files()
    {
        var app = TestApps.Quiet(s => s.MaxFormMemorySize = 256 * 1024);
        app.Post("/upload", async (req, res) =>
        {
            var form = await req.FormAsync();
            res.Json = new
            {
                files = form.Files.Count,
                inMemory = form.Files.Where(f => f.TempPath is null).Sum(f => f.Length),
                onDisk = form.Files.Count(f => f.TempPath is not null && File.Exists(f.TempPath)),
                intact = form.Files.Select((f, i) => f.Length == 60_000).All(ok => ok),
            };
        });
        await using var client = app.CreateClient();

        var response = await client.PostAsync("/upload", Parts(20, 60_000, files: true));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        var json = await response.JsonAsync();
        json.GetProperty("files").GetInt32().Should().Be(20);
        json.GetProperty("intact").GetBoolean().Should().BeTrue();
        json.GetProperty("inMemory").GetInt64().Should().BeLessThanOrEqualTo(256 * 1024, "every part is under FormMemoryThreshold, but the form's memory is bounded in total");
        json.GetProperty("onDisk").GetInt32().Should().BeGreaterThanOrEqualTo(16);
    }

    [Test]
    public async Task Text_fields_past_the_forms_memory_are_a_413_and_so_is_a_larger_urlencoded_body()
    {
        var app = TestApps.Quiet(s => s.MaxFormMemorySize = 100 * 1024);
        app.Post("/form", async (req, res) => res.Text = (await req.FormAsync()).Count().ToString());
        await using var client = app.CreateClient();

        var multipart = await client.PostAsync("/form", Parts(3, 50_000, files: false));
        multipart.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        (await multipart.Content.ReadAsStringAsync()).Should().Contain("Form fields too large in total").And.Contain("102400");

        var urlencoded = await client.PostAsync("/form", new FormUrlEncodedContent([new("a", new string('x', 150_000))]));
        urlencoded.StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);
        (await urlencoded.Content.ReadAsStringAsync()).Should().Contain("urlencoded form is held in memory");

        (await client.PostAsync("/form", Parts(1, 50_000, files: false))).StatusCode.Should().Be(HttpStatusCode.OK, "a form within the bound is read");
    }

    [TestCase("/upload", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.bin\"\r\n\r\n", 10 * 1024 * 1024, 2 * 1024 * 1024)]
    [TestCase("/json", "application/json", "[\"", 900 * 1024, 400 * 1024)]
    public async Task A_client_that_stalls_after_a_burst_is_answered_408_and_leaves_nothing_behind(string path, string contentType, string start, int length, int sent)
    {
        var app = TestApps.Quiet(s => s.RequestBodyIdleTimeout = TimeSpan.FromSeconds(1));
        app.Post("/upload", async (req, res) => res.Text = (await req.FormAsync()).Files.Count.ToString());
        app.Post("/json", async (req, res) => res.Text = (await req.JsonAsync()).GetArrayLength().ToString());
        await using var client = app.CreateClient();
        var filesBefore = UploadFiles();

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(client.BaseAddress!.Host, client.BaseAddress.Port);
        var stream = tcp.GetStream();
        // A fast burst (well above any minimum rate), then nothing while the body is still far from its length.
        var burst = Encoding.ASCII.GetBytes(start + new string('x', sent));
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST {path} HTTP/1.1\r\nHost: {client.BaseAddress.Authority}\r\nContent-Type: {contentType}\r\nContent-Length: {length}\r\n\r\n"));
        await stream.WriteAsync(burst);
        var clock = Stopwatch.StartNew();

        var answer = new StringBuilder();
        var buffer = new byte[4096];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!answer.ToString().Contains("\r\n\r\n"))
        {
            var n = await stream.ReadAsync(buffer, deadline.Token);
            if (n == 0) break;
            answer.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        TestContext.Out.WriteLine($"answered after {clock.Elapsed.TotalSeconds:0.0} s: {answer.ToString().Split("\r\n")[0]}");
        answer.ToString().Should().StartWith("HTTP/1.1 408", "the body stalled for longer than RequestBodyIdleTimeout");
        await TestApps.UntilAsync(() => UploadFiles() <= filesBefore);
        UploadFiles().Should().BeLessThanOrEqualTo(filesBefore, "the stalled upload's temporary file is deleted");
    }

    [Test]
    public async Task Uploads_past_the_space_for_temporary_files_are_a_503_with_retry_after_and_give_it_back()
    {
        var app = TestApps.Quiet(s => s.MaxUploadTempBytes = 1024 * 1024);
        app.Post("/upload", async (req, res) => res.Text = (await req.FormAsync()).Files.Sum(f => f.Length).ToString());
        await using var client = app.CreateClient();

        var refused = await client.PostAsync("/upload", Parts(1, 3 * 1024 * 1024, files: true));
        refused.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        refused.Headers.RetryAfter.Should().NotBeNull();
        (await refused.Content.ReadAsStringAsync()).Should().Contain("Too many uploads in progress");

        // The refused upload's bytes were given back: uploads within the space go through, again and again.
        for (var i = 0; i < 3; i++)
            (await (await client.PostAsync("/upload", Parts(1, 600 * 1024, files: true))).Content.ReadAsStringAsync()).Should().Be((600 * 1024).ToString());
    }
}
