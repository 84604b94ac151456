namespace Bocata;

/// <summary>Throw to redirect: 302 Found, or 301 Moved Permanently when <paramref name="permanent"/>.</summary>
/// <param name="url">The target URL, absolute or relative.</param>
/// <param name="permanent">Whether to answer 301 instead of 302.</param>
public sealed class Redirect(string url, bool permanent = false) : Exception($"Redirect to {url}")
{
    /// <summary>The target URL.</summary>
    public string Url { get; } = url ?? throw new ArgumentNullException(nameof(url));

    /// <summary>Whether the redirect is permanent (301).</summary>
    public bool Permanent { get; } = permanent;
}
