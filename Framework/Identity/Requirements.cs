using System.Security.Claims;
using System.Text;

namespace Bocata;

/// <summary>The check behind <c>.Requires(...)</c>: who may call a route, answered with RFC 6750's 401 and 403.</summary>
internal static class Requirements
{
    /// <summary>Any signed-in user.</summary>
    public const string Authenticated = "authenticated";

    /// <summary>The names as given, refused when empty or blank (a typo that would lock nobody out is worse than an error).</summary>
    public static string[] Checked(string[]? names)
    {
        if (names is null || names.Length == 0)
            throw new ArgumentException("Requires needs at least one name: \"authenticated\" for any signed-in user, or a role or scope, e.g. Requires(\"admin\").", nameof(names));
        foreach (var name in names)
            // RFC 6749 section 3.3: a scope has no spaces, quotes or backslashes (so it can be named in a challenge).
            if (string.IsNullOrWhiteSpace(name) || name.Any(c => c is <= ' ' or '"' or '\\' or '\x7f' || char.IsWhiteSpace(c)))
                throw new ArgumentException($"'{name}' is not a name Requires can check: use \"authenticated\", or one role or scope (no spaces or quotes).", nameof(names));
        return [.. names];
    }

    /// <summary>Runs <paramref name="inner"/> only for users who have every one of <paramref name="names"/>.</summary>
    public static Handler Wrap(Handler inner, string[] names) => (req, res) =>
    {
        Check(req, names);
        return inner(req, res);
    };

    /// <summary>Throws 401 (no credential, or a bad one) or 403 (signed in without one of <paramref name="names"/>).</summary>
    public static void Check(Request req, IReadOnlyList<string> names)
    {
        var user = req.User;
        if (user.Identity is not { IsAuthenticated: true }) throw Unauthorized(req);
        List<string>? missing = null;
        foreach (var name in names)
            if (name != Authenticated && !Has(user, name)) (missing ??= []).Add(name);
        if (missing is null) return;
        var error = new HttpError(403, $"Requires {string.Join(" and ", missing)}: a role or scope this user does not have.");
        // RFC 6750 section 3.1: a token without the scope a resource needs is insufficient_scope.
        if (req.Credential == CredentialKind.Bearer)
        {
            var scope = string.Join(' ', missing);
            // A header value is ASCII: a role named in another script is left out of the challenge (the detail names it).
            error.Headers["WWW-Authenticate"] = Ascii.IsValid(scope)
                ? $"Bearer error=\"insufficient_scope\", scope=\"{scope}\""
                : "Bearer error=\"insufficient_scope\"";
        }
        throw error;
    }

    private static HttpError Unauthorized(Request req)
    {
        var refused = req.CredentialError;
        var error = new HttpError(401, refused ?? "Sign in first: this needs a signed-in user.");
        // RFC 6750 section 3: Bearer with no error code when no token was sent; invalid_token and why when one was refused.
        if (req.Context.Server.Settings is { Jwt: not null } or { JwtAuthority: not null })
            error.Headers["WWW-Authenticate"] = refused is null ? "Bearer" : $"Bearer error=\"invalid_token\", error_description=\"{refused}\"";
        return error;
    }

    /// <summary>A role (<c>role</c>, <c>roles</c>, <see cref="ClaimTypes.Role"/> or the identity's role claim type) or a scope (a
    /// space-separated <c>scope</c> or <c>scp</c> claim) named <paramref name="name"/>.</summary>
    public static bool Has(ClaimsPrincipal user, string name)
    {
        foreach (var identity in user.Identities)
        {
            if (!identity.IsAuthenticated) continue;
            foreach (var claim in identity.Claims)
            {
                var type = claim.Type;
                if (type is "role" or "roles" or ClaimTypes.Role || type == identity.RoleClaimType)
                {
                    if (claim.Value == name) return true;
                }
                else if (type is "scope" or "scp")
                {
                    foreach (var range in claim.Value.AsSpan().Split(' '))
                        if (claim.Value.AsSpan()[range].SequenceEqual(name)) return true;
                }
            }
        }
        return false;
    }
}

/// <summary>Where the request's user came from.</summary>
internal enum CredentialKind
{
    None,
    Bearer,
    Cookie,
}
