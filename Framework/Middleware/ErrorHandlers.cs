using System.Net;

namespace Bocata;

/// <summary>The built-in ways to turn an <see cref="HttpError"/> into a response; pick one with <c>app.ErrorHandler&lt;HttpError&gt;(ErrorHandlers.ToHtml)</c>.</summary>
public static class ErrorHandlers
{
    /// <summary><c>{"error":"403 Forbidden","status":403,"detail":"Nope!"}</c> (the default).</summary>
    public static void ToJson(Request req, Response res, HttpError error)
    {
        ArgumentNullException.ThrowIfNull(res);
        ArgumentNullException.ThrowIfNull(error);
        res.StatusCode = error.Status;
        res.Json = error.Detail is null
            ? new ErrorBody(error.StatusText, error.Status)
            : new ErrorBodyWithDetail(error.StatusText, error.Status, error.Detail);
    }

    /// <summary>An HTML page with the status as its title and the detail below.</summary>
    public static void ToHtml(Request req, Response res, HttpError error)
    {
        ArgumentNullException.ThrowIfNull(res);
        ArgumentNullException.ThrowIfNull(error);
        res.StatusCode = error.Status;
        var title = WebUtility.HtmlEncode(error.StatusText);
        var detail = error.Detail is null ? "" : $"<p>{WebUtility.HtmlEncode(DetailText(error.Detail))}</p>";
        res.Html = $"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>{detail}</body></html>";
    }

    /// <summary><c>403 Forbidden: Nope!</c> as plain text.</summary>
    public static void ToText(Request req, Response res, HttpError error)
    {
        ArgumentNullException.ThrowIfNull(res);
        ArgumentNullException.ThrowIfNull(error);
        res.StatusCode = error.Status;
        res.Text = error.Detail is null ? error.StatusText : $"{error.StatusText}: {DetailText(error.Detail)}";
    }

    private static string DetailText(object detail) => detail as string ?? System.Text.Json.JsonSerializer.Serialize(detail, BocataJson.TypeInfo(BocataJson.Options, detail.GetType()));


    internal sealed record ErrorBody(string Error, int Status);

    internal sealed record ErrorBodyWithDetail(string Error, int Status, object Detail);
}
