using Microsoft.AspNetCore.WebUtilities;

namespace Bocata;

/// <summary>Throw to answer with an HTTP error status, e.g. <c>throw new HttpError(403, detail: "Nope!")</c>.</summary>
public class HttpError : Exception
{
    /// <summary>Creates an error for <paramref name="status"/> (any HTTP status, 100–599, as Bocadillo allows) with an optional detail (string or any JSON-serializable object).</summary>
    public HttpError(int status, object? detail = null)
        : base(BuildMessage(status))
    {
        if (status is < 100 or > 599)
            throw new ArgumentOutOfRangeException(nameof(status), status, "An HttpError status is an HTTP status code (100-599), e.g. 404; use `throw new Redirect(url)` for redirects.");
        StatusCode = status;
        Detail = detail;
    }

    /// <summary>The HTTP status code (Bocadillo's <c>status_code</c>).</summary>
    public int StatusCode { get; }

    /// <summary>The HTTP status code; the same as <see cref="StatusCode"/>.</summary>
    public int Status => StatusCode;

    /// <summary>Headers to send with the error response (e.g. <c>Allow</c> on a 405, <c>WWW-Authenticate</c> on a 401).</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The detail given to the client, or null.</summary>
    public object? Detail { get; }

    /// <summary>The standard phrase for the status, e.g. "Not Found".</summary>
    public string Title => ReasonPhrases.GetReasonPhrase(Status);

    /// <summary>The status and its phrase, e.g. "404 Not Found".</summary>
    public string StatusText => $"{Status} {Title}";

    /// <summary>"404 Not Found", as Bocadillo's <c>str(HTTPError(404))</c>.</summary>
    public override string ToString() => StatusText;

    /// <summary>"404 Not Found" whatever the detail, as Bocadillo's <c>str(HTTPError(404, detail="foo"))</c>; the detail is in
    /// <see cref="Detail"/> and in the response body.</summary>
    private static string BuildMessage(int status) => $"{status} {ReasonPhrases.GetReasonPhrase(status)}";
}
