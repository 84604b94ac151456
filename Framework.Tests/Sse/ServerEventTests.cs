using System.Buffers;
using System.Net.ServerSentEvents;
using System.Text;
using CsCheck;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sse;

public class ServerEventTests
{
    [Test]
    public void The_api_example_is_byte_exact() =>
        new ServerEvent(data: "hello", id: "1").ToString().Should().Be("id: 1\ndata: hello\n\n");

    [Test]
    public void Fields_come_in_the_documented_order()
    {
        var evt = new ServerEvent(name: "update", data: "x", id: "7", retry: 3000, comment: "note");
        evt.ToString().Should().Be(": note\nid: 7\nevent: update\ndata: x\nretry: 3000\n\n");
    }

    [TestCase("a\nb", "data: a\ndata: b\n\n")]
    [TestCase("a\r\nb", "data: a\ndata: b\n\n")]
    [TestCase("a\rb", "data: a\ndata: b\n\n")]
    [TestCase("a\n\rb", "data: a\ndata: \ndata: b\n\n")]
    [TestCase("a\r\n\r\nb", "data: a\ndata: \ndata: b\n\n")]
    [TestCase("a\r\r\nb", "data: a\ndata: \ndata: b\n\n")]
    [TestCase("\nlead", "data: \ndata: lead\n\n")]
    [TestCase("trail\n", "data: trail\ndata: \n\n")]
    [TestCase("", "data: \n\n")]
    [TestCase(" spaced ", "data:  spaced \n\n")]
    [TestCase("colon: inside", "data: colon: inside\n\n")]
    [TestCase("ünï 🌡️", "data: ünï 🌡️\n\n")]
    public void Data_is_split_on_crlf_cr_and_lf(string data, string wire) =>
        new ServerEvent(data: data).ToString().Should().Be(wire);

    [Test]
    public void Comments_can_span_lines_and_an_event_can_be_only_a_comment() =>
        new ServerEvent(comment: "one\r\ntwo").ToString().Should().Be(": one\n: two\n\n");

    [Test]
    public void Json_is_serialized_with_the_response_json_options()
    {
        var evt = new ServerEvent(json: new { Temperature = 10.5, Unit = "°C" });
        evt.Data.Should().Be("""{"temperature":10.5,"unit":"°C"}""");
        evt.ToString().Should().Be("data: {\"temperature\":10.5,\"unit\":\"°C\"}\n\n");
        evt.Json<Dictionary<string, object>>().Keys.Should().BeEquivalentTo("temperature", "unit");
        FluentActions.Invoking(() => new ServerEvent(comment: "no data").Json<int>()).Should().Throw<InvalidOperationException>().WithMessage("*no data*");
        FluentActions.Invoking(() => new ServerEvent(data: "null").Json<Dictionary<string, object>>()).Should().Throw<InvalidOperationException>().WithMessage("*JSON null*");
    }

    [Test]
    public void A_null_field_is_left_out()
    {
        new ServerEvent(name: "ping").ToString().Should().Be("event: ping\n\n");
        new ServerEvent(retry: 0).ToString().Should().Be("retry: 0\n\n");
    }

    [TestCase("a\nb")]
    [TestCase("a\rb")]
    [TestCase("a\r\nb")]
    [TestCase("a\0b")]
    [TestCase("\n")]
    public void Line_breaks_or_nul_in_name_or_id_are_rejected(string value)
    {
        FluentActions.Invoking(() => new ServerEvent(name: value)).Should().Throw<ArgumentException>().WithParameterName("name").WithMessage("*CR, LF or NUL*");
        FluentActions.Invoking(() => new ServerEvent(id: value)).Should().Throw<ArgumentException>().WithParameterName("id");
    }

    [Test]
    public void Negative_retry_and_data_with_json_are_rejected()
    {
        FluentActions.Invoking(() => new ServerEvent(retry: -1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*cannot be negative*");
        FluentActions.Invoking(() => new ServerEvent(data: "x", json: 1)).Should().Throw<ArgumentException>().WithMessage("*either data or json*");
    }

    [Test]
    public void WriteTo_writes_the_same_bytes_as_ToString()
    {
        var evt = new ServerEvent(name: "n", data: new string('x', 10_000) + "\r\nend", id: "9", retry: 5, comment: "c");
        var buffer = new ArrayBufferWriter<byte>(1);
        evt.WriteTo(buffer);
        Encoding.UTF8.GetString(buffer.WrittenSpan).Should().Be(evt.ToString());
    }

    [TestCase("plain")]
    [TestCase("a\nb\r\nc\rd")]
    [TestCase("trailing\n")]
    [TestCase("\n\n")]
    [TestCase(" leading space")]
    [TestCase("data: looks like a field\n\nevent: fake")]
    public void Round_trips_through_SseParser(string data)
    {
        var evt = new ServerEvent(name: "custom", data: data, id: "id-1", retry: 1500);
        var item = Parse(evt.ToString()).Single();
        item.EventType.Should().Be("custom");
        item.Data.Should().Be(Normalize(data));
        item.EventId.Should().Be("id-1");
        item.ReconnectionInterval.Should().Be(TimeSpan.FromMilliseconds(1500));
    }

    [Test]
    public void Any_text_round_trips_through_SseParser()
    {
        var text = Gen.String[Gen.Char.Where(c => !char.IsSurrogate(c)), 1, 60];
        var line = Gen.String[Gen.Char.Where(c => !char.IsSurrogate(c) && c is not ('\r' or '\n' or '\0')), 1, 20];
        Gen.Select(text, line, line).Sample((data, name, id) =>
        {
            var evt = new ServerEvent(name: name, data: data, id: id);
            var items = Parse(evt.ToString() + new ServerEvent(data: "next").ToString());
            items.Should().HaveCount(2);
            items[0].Data.Should().Be(Normalize(data));
            items[0].EventType.Should().Be(name);
            items[0].EventId.Should().Be(id);
            items[1].Data.Should().Be("next", "an event's text must never leak into the next one");
        }, iter: 2000);
    }

    private static string Normalize(string data) => data.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');

    private static List<SseItem<string>> Parse(string wire) =>
        SseParser.Create(new MemoryStream(Encoding.UTF8.GetBytes(wire))).Enumerate().ToList();
}
