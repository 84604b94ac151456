using System.Buffers;
using System.Text.Json;
using BenchmarkDotNet.Attributes;

namespace Bocata.Benchmarks.Micro;

/// <summary>Serializing a response body as res.Json does: into a reused buffer through a reused Utf8JsonWriter.</summary>
[MemoryDiagnoser]
public class JsonBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private readonly Utf8JsonWriter _writer;
    private readonly object _message = new Message("Hello, World!");

    public JsonBenchmarks() => _writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });

    [Benchmark]
    public int ResponseJson()
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        JsonSerializer.Serialize(_writer, _message, _message.GetType(), BocataJson.Options);
        _writer.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public int SerializeToUtf8Bytes() => JsonSerializer.SerializeToUtf8Bytes(_message, _message.GetType(), BocataJson.Options).Length;

    public sealed record Message(string Text);
}
