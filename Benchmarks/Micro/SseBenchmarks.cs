using System.Buffers;
using System.Net.ServerSentEvents;
using BenchmarkDotNet.Attributes;

namespace Bocata.Benchmarks.Micro;

/// <summary>Formatting one event: Bocata's ServerEvent.WriteTo against System.Net.ServerSentEvents.SseFormatter.</summary>
[MemoryDiagnoser]
public class SseBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly ServerEvent _event = new(name: "temperature", data: "{\"temperature\":10.41549470378961}", id: "12345");
    private readonly SseItem<string>[] _items = [new("{\"temperature\":10.41549470378961}", "temperature") { EventId = "12345" }];
    private readonly MemoryStream _stream = new(1024);

    [Benchmark(Baseline = true)]
    public int BocataWriteTo()
    {
        _buffer.ResetWrittenCount();
        _event.WriteTo(_buffer);
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public long SseFormatterWriteAsync()
    {
        _stream.Position = 0;
        SseFormatter.WriteAsync(ToAsync(_items), _stream).GetAwaiter().GetResult();
        return _stream.Position;
    }

    [Benchmark]
    public int BocataNewEventAndWrite()
    {
        _buffer.ResetWrittenCount();
        new ServerEvent(data: "{\"temperature\":10.41549470378961}").WriteTo(_buffer);
        return _buffer.WrittenCount;
    }

    private static async IAsyncEnumerable<SseItem<string>> ToAsync(SseItem<string>[] items)
    {
        foreach (var item in items) yield return item;
        await Task.CompletedTask;
    }
}
