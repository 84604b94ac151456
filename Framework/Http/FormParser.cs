using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Bocata;

internal static class FormParser
{
    private const int MaxFields = 1024;
    private const int MaxBoundaryLength = 200;

    public static async Task<Form> ParseAsync(string? contentType, byte[] body, CancellationToken ct)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var mediaType))
            throw new HttpError(415, "Expected a form body: Content-Type must be application/x-www-form-urlencoded or multipart/form-data.");

        try
        {
            if (mediaType.MediaType.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
                return await ParseUrlEncodedAsync(body, ct);
            if (mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
                return await ParseMultipartAsync(mediaType, body, ct);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or DecoderFallbackException)
        {
            throw new HttpError(400, $"Form is malformed: {e.Message}");
        }
        throw new HttpError(415, $"Expected a form body: Content-Type must be application/x-www-form-urlencoded or multipart/form-data, not {mediaType.MediaType}.");
    }

    private static async Task<Form> ParseUrlEncodedAsync(byte[] body, CancellationToken ct)
    {
        using var reader = new FormReader(new MemoryStream(body, writable: false)) { ValueCountLimit = MaxFields };
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

    private static async Task<Form> ParseMultipartAsync(MediaTypeHeaderValue mediaType, byte[] body, CancellationToken ct)
    {
        var boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
            throw new HttpError(400, "Form is malformed: multipart/form-data needs a boundary parameter in Content-Type.");
        if (boundary.Length > MaxBoundaryLength)
            throw new HttpError(400, $"Form is malformed: the multipart boundary is longer than {MaxBoundaryLength} characters.");

        var reader = new MultipartReader(boundary, new MemoryStream(body, writable: false));
        var fields = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var files = new List<UploadedFile>();
        var count = 0;
        while (await reader.ReadNextSectionAsync(ct) is { } section)
        {
            if (++count > MaxFields) throw new HttpError(400, $"Form is malformed: more than {MaxFields} parts.");
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase))
                throw new HttpError(400, "Form is malformed: every part needs a 'Content-Disposition: form-data; name=...' header.");

            var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
            using var buffer = new MemoryStream();
            await section.Body.CopyToAsync(buffer, ct);
            if (disposition.IsFileDisposition())
            {
                var fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value ?? "";
                files.Add(new UploadedFile(name, fileName, section.ContentType ?? "application/octet-stream", buffer.ToArray()));
            }
            else
            {
                var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
                if (!fields.TryGetValue(name, out var list)) fields[name] = list = [];
                list.Add(text);
            }
        }
        return new Form(fields, files);
    }
}
