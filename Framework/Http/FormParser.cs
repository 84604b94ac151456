using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Bocata;

/// <summary>
/// Reads a form from the request body as it arrives, never the whole body at once: urlencoded through WebUtilities'
/// <see cref="FormReader"/>, multipart part by part through <see cref="MultipartReader"/>, each file kept in memory up to
/// <see cref="Settings.FormMemoryThreshold"/> and in a temporary file past it (deleted when the request ends). Every size and
/// count is bounded; errors are 400/413 with our own messages, never an exception's.
/// </summary>
internal static class FormParser
{
    private const int MaxBoundaryLength = 70; // RFC 2046 section 5.1.1
    private const int MaxKeyLength = 2048;

    // keepUntilEnd takes a temporary file's stream, to dispose (and delete) when the request ends.
    public static async Task<Form> ParseAsync(string? contentType, Stream body, Settings settings, UploadBudget uploads, Action<IDisposable> keepUntilEnd, CancellationToken ct)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var mediaType))
            throw new HttpError(415, "Expected a form body: Content-Type must be application/x-www-form-urlencoded or multipart/form-data.");
        try
        {
            if (mediaType.MediaType.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
                return await ParseUrlEncodedAsync(settings, body, ct);
            if (mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
                return await ParseMultipartAsync(settings, uploads, keepUntilEnd, mediaType, body, ct);
        }
        catch (InvalidDataException e) when (e.Message.Contains("length limit", StringComparison.Ordinal))
        {
            throw new HttpError(413, $"A form field is too large: the limit is {settings.MaxFormFieldSize} bytes per value.");
        }
        catch (InvalidDataException e) when (e.Message.Contains("count limit", StringComparison.Ordinal))
        {
            throw new HttpError(400, $"Form is malformed: more than {settings.MaxFormFields} fields.");
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or DecoderFallbackException && e is not Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            throw new HttpError(400, "Form is malformed: it is not valid application/x-www-form-urlencoded or multipart/form-data.");
        }
        throw new HttpError(415, $"Expected a form body: Content-Type must be application/x-www-form-urlencoded or multipart/form-data, not {mediaType.MediaType}.");
    }

    private static async Task<Form> ParseUrlEncodedAsync(Settings settings, Stream body, CancellationToken ct)
    {
        // Every field of a urlencoded form is held in memory: the whole body is bounded by MaxFormMemorySize.
        var limited = new GuardedBodyStream(body, settings.MaxFormMemorySize,
            $"Form too large: a urlencoded form is held in memory, and the limit is {settings.MaxFormMemorySize} bytes (send files as multipart/form-data).");
        using var reader = new FormReader(limited)
        {
            ValueCountLimit = settings.MaxFormFields,
            ValueLengthLimit = settings.MaxFormFieldSize,
            KeyLengthLimit = MaxKeyLength,
        };
        var parsed = await reader.ReadFormAsync(ct);
        var fields = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in parsed)
        {
            var list = new List<string>(pair.Value.Count);
            foreach (var v in pair.Value) list.Add(v ?? "");
            fields[pair.Key] = list;
        }
        return new Form(fields, []);
    }

    private static async Task<Form> ParseMultipartAsync(Settings settings, UploadBudget uploads, Action<IDisposable> keepUntilEnd, MediaTypeHeaderValue mediaType, Stream body, CancellationToken ct)
    {
        var boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
            throw new HttpError(400, "Form is malformed: multipart/form-data needs a boundary parameter in Content-Type.");
        if (boundary.Length > MaxBoundaryLength)
            throw new HttpError(400, $"Form is malformed: the multipart boundary is longer than {MaxBoundaryLength} characters.");

        var reader = new MultipartReader(boundary, body);
        var fields = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var files = new List<UploadedFile>();
        var count = 0;
        // What the form holds in memory so far (text fields and in-memory files), bounded by MaxFormMemorySize.
        var held = new Held();
        while (await reader.ReadNextSectionAsync(ct) is { } section)
        {
            if (++count > settings.MaxFormFields) throw new HttpError(400, $"Form is malformed: more than {settings.MaxFormFields} parts.");
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase))
                throw new HttpError(400, "Form is malformed: every part needs a 'Content-Disposition: form-data; name=...' header.");

            var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
            if (disposition.IsFileDisposition())
            {
                var fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value ?? "";
                files.Add(await ReadFileAsync(settings, uploads, held, keepUntilEnd, section, name, fileName, ct));
            }
            else
            {
                var text = await ReadFieldAsync(settings, held, section.Body, ct);
                if (!fields.TryGetValue(name, out var list)) fields[name] = list = [];
                list.Add(text);
            }
        }
        return new Form(fields, files);
    }

    private sealed class Held
    {
        public long Bytes;
    }

    private static async Task<string> ReadFieldAsync(Settings settings, Held held, Stream part, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await part.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > settings.MaxFormFieldSize)
                throw new HttpError(413, $"A form field is too large: the limit is {settings.MaxFormFieldSize} bytes per value.");
            if (held.Bytes + buffer.Length + read > settings.MaxFormMemorySize)
                throw new HttpError(413, $"Form fields too large in total: a form's fields are held in memory, and the limit is {settings.MaxFormMemorySize} bytes (send large values as files).");
            buffer.Write(chunk, 0, read);
        }
        held.Bytes += buffer.Length;
        return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static async Task<UploadedFile> ReadFileAsync(Settings settings, UploadBudget uploads, Held held, Action<IDisposable> keepUntilEnd, MultipartSection section, string name, string fileName, CancellationToken ct)
    {
        var contentType = section.ContentType ?? "application/octet-stream";
        // Memory up to the threshold (and while the whole form holds less than MaxFormMemorySize), then a temporary file (as
        // ASP.NET Core's form reader does), deleted when the request ends; temporary files of all requests are bounded too.
        var memory = new MemoryStream();
        FileStream? file = null;
        TemporaryFile? temporary = null;
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            long length = 0;
            int read;
            while ((read = await section.Body.ReadAsync(chunk, ct)) > 0)
            {
                length += read;
                if (length > settings.MaxFormFileSize)
                    throw new HttpError(413, $"An uploaded file is too large: the limit is {settings.MaxFormFileSize} bytes per file.");
                if (file is null && (length > settings.FormMemoryThreshold || held.Bytes + length > settings.MaxFormMemorySize))
                {
                    temporary = new TemporaryFile(uploads);
                    keepUntilEnd(temporary);
                    temporary.Take(memory.Length);
                    file = new FileStream(temporary.Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read | FileShare.Delete, 64 * 1024, FileOptions.Asynchronous);
                    await file.WriteAsync(memory.GetBuffer().AsMemory(0, (int)memory.Length), ct);
                }
                if (file is null) memory.Write(chunk, 0, read);
                else
                {
                    temporary!.Take(read);
                    await file.WriteAsync(chunk.AsMemory(0, read), ct);
                }
            }
            if (file is null)
            {
                held.Bytes += length;
                return new UploadedFile(name, fileName, contentType, memory.ToArray());
            }
            await file.FlushAsync(ct);
            return new UploadedFile(name, fileName, contentType, temporary!.Path, length);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
            if (file is not null) await file.DisposeAsync();
        }
    }

    /// <summary>An upload's temporary file: deleted when the request ends, whichever way it ends.</summary>
    private sealed class TemporaryFile(UploadBudget uploads) : IDisposable
    {
        private long _taken;

        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"bocata-upload-{Guid.NewGuid():N}.tmp");

        /// <summary>Counts <paramref name="bytes"/> more on disk, or refuses the upload (503) when uploads in temporary files
        /// already hold <see cref="Settings.MaxUploadTempBytes"/>.</summary>
        public void Take(long bytes)
        {
            if (!uploads.TryTake(bytes))
            {
                var busy = new HttpError(503, "Too many uploads in progress: the server's space for uploads is full. Try again shortly.");
                busy.Headers["Retry-After"] = "5";
                throw busy;
            }
            _taken += bytes;
        }

        public void Dispose()
        {
            uploads.Give(Interlocked.Exchange(ref _taken, 0));
            try
            {
                File.Delete(Path);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
