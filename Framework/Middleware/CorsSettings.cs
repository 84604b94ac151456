namespace Bocata;

/// <summary>Cross-Origin Resource Sharing, set with <c>app.Configure(s => s.Cors = new CorsSettings { AllowOrigins = ["https://example.com"] })</c>.</summary>
public sealed class CorsSettings
{
    /// <summary>Origins allowed to call the app, e.g. "https://example.com"; "*" allows any (not with credentials).</summary>
    public IList<string> AllowOrigins { get; init; } = [];

    /// <summary>Methods allowed in cross-origin requests (default GET).</summary>
    public IList<string> AllowMethods { get; init; } = ["GET"];

    /// <summary>Request headers allowed beyond the CORS-safelisted ones; "*" allows any.</summary>
    public IList<string> AllowHeaders { get; init; } = [];

    /// <summary>Response headers the browser may read beyond the safelisted ones.</summary>
    public IList<string> ExposeHeaders { get; init; } = [];

    /// <summary>Whether cookies and credentials may be sent (the allowed origin is echoed, never "*").</summary>
    public bool AllowCredentials { get; init; }

    /// <summary>How long browsers may cache a preflight answer, in seconds (default 600).</summary>
    public int MaxAge { get; init; } = 600;

    internal void Validate()
    {
        if (AllowCredentials && AllowOrigins.Contains("*"))
            throw new ArgumentException("CORS: AllowCredentials cannot be combined with AllowOrigins = \"*\" (browsers refuse it); list the origins instead.");
        foreach (var origin in AllowOrigins)
            HeaderValidation.ValidateValue("Access-Control-Allow-Origin", origin);
    }
}
