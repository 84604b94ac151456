using Microsoft.Net.Http.Headers;

namespace Bocata;

internal static class ContentDisposition
{
    public static string Attachment(string fileName)
    {
        var header = new ContentDispositionHeaderValue("attachment");
        // Sets both filename (ASCII fallback) and filename* (RFC 6266 / 5987) so non-ASCII names survive.
        header.SetHttpFileName(fileName);
        return header.ToString();
    }
}
