using System.IO.Pipelines;

namespace Bocata;

internal static class PipeWriterExtensions
{
    private const int ChunkSize = 16 * 1024;

    /// <summary>Copies <paramref name="data"/> into the pipe in chunks of at most 16 KB, always asking for a size.</summary>
    /// <remarks>BuffersExtensions.Write asks Kestrel's response pipe for a span without a size hint, which can be empty
    /// before the response has started; a large body then fails. Sized requests always get memory.</remarks>
    public static void WriteAll(this PipeWriter writer, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var span = writer.GetSpan(Math.Min(data.Length, ChunkSize));
            var n = Math.Min(span.Length, data.Length);
            data[..n].CopyTo(span);
            writer.Advance(n);
            data = data[n..];
        }
    }
}
