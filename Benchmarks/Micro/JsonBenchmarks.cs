using System.Buffers;
using System.Text.Json;
using BenchmarkDotNet.Attributes;

namespace Bocata.Benchmarks.Micro;

/// <summary>Serializing a response body as res.Json does: into a reused buffer through a reused Utf8JsonWriter, against SerializeToUtf8Bytes.</summary>
[MemoryDiagnoser]
public class JsonBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private readonly object _message = new Message("Hello, World!");

    /// <summary>The code res.Json runs (ResponseWriter.SerializeJson), not a copy of it.</summary>
    [Benchmark]
    public int ResponseJson() => ResponseWriter.SerializeJson(_buffer, _message, BocataJson.Options).Length;

    [Benchmark]
    public int SerializeToUtf8Bytes() => JsonSerializer.SerializeToUtf8Bytes(_message, _message.GetType(), BocataJson.Options).Length;

    public sealed record Message(string Text);
}
