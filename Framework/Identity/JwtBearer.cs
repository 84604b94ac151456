using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Bocata;

/// <summary>
/// Bearer tokens checked by Microsoft.IdentityModel's <see cref="JsonWebTokenHandler"/>, reached only through
/// <see cref="Settings.Jwt"/>'s setter (as TLS is through <c>Certificate</c>'s): a Native AOT app that never sets it publishes
/// without the token handler and its JSON and crypto providers.
/// </summary>
internal sealed class JwtBearer
{
    private static Func<TokenValidationParameters, Func<string, Request, ValueTask>>? s_create;

    private readonly JsonWebTokenHandler _tokens = new();
    private readonly TokenValidationParameters _parameters;

    private JwtBearer(TokenValidationParameters parameters) => _parameters = Harden(parameters);

    private static Func<string, BaseConfigurationManager>? s_discover;

    public static void Install() => s_create ??= static parameters => new JwtBearer(parameters).AuthenticateAsync;

    /// <summary>OpenID Connect discovery, reached only through <see cref="Settings.JwtAuthority"/>'s setter (it brings an HTTP client).</summary>
    public static void InstallAuthority()
    {
        Install();
        // No "last known good" fallback: a key the provider removed (a leaked one, say) is refused as soon as the app has read
        // the new JWKS, not an hour later.
        s_discover ??= static metadata => new ConfigurationManager<OpenIdConnectConfiguration>(metadata, new OpenIdConnectConfigurationRetriever(),
            new HttpDocumentRetriever { RequireHttps = new Uri(metadata).Scheme == Uri.UriSchemeHttps }) { UseLastKnownGoodConfiguration = false };
    }

    /// <summary>What signs a request in from its bearer token, or null when the app checks none. With an authority, its issuer and
    /// signing keys come from its discovery document and JWKS, fetched when first needed and again when a token names a key
    /// not seen yet (a rotation) — Microsoft.IdentityModel's configuration manager does both, and refreshes daily.</summary>
    public static Func<string, Request, ValueTask>? Create(TokenValidationParameters? parameters, string? authority)
    {
        if (parameters is null && authority is null) return null;
        if (authority is not null)
        {
            if (parameters is null || (parameters.ValidateAudience && parameters.ValidAudience is null && parameters.ValidAudiences?.Any() != true && parameters.AudienceValidator is null))
                throw new InvalidOperationException("s.JwtAuthority gives the issuer and its keys, not your API's audience: add s.Jwt = new TokenValidationParameters { ValidAudience = \"api\" } (the tokens' aud).");
            parameters = parameters.Clone();
            parameters.ConfigurationManager = (s_discover ?? throw new InvalidOperationException("OpenID Connect discovery was not set up: set s.JwtAuthority."))(MetadataAddress(authority));
        }
        return (s_create ?? throw new InvalidOperationException("Bearer tokens were not set up: set them with app.Configure(s => s.Jwt = ...)."))(parameters!);
    }

    /// <summary>The discovery document's address: the authority's <c>/.well-known/openid-configuration</c> (OpenID Connect
    /// Discovery 1.0, section 4). Over https, or http to this machine only (a development provider).</summary>
    private static string MetadataAddress(string authority)
    {
        if (!Uri.TryCreate(authority, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && !(uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)))
            throw new InvalidOperationException($"s.JwtAuthority must be the provider's https URL, e.g. \"https://id.example/\" (http only to localhost, for a development provider); it is '{authority}'.");
        const string wellKnown = ".well-known/openid-configuration";
        var text = uri.AbsoluteUri;
        return text.EndsWith(wellKnown, StringComparison.Ordinal) ? text : text.TrimEnd('/') + "/" + wellKnown;
    }

    private async ValueTask AuthenticateAsync(string token, Request req)
    {
        TokenValidationResult result;
        try
        {
            // The authority's keys first (cached by the manager): when they cannot be read, the library would blame the token's
            // issuer; the truth is that nothing could be checked.
            if (_parameters.ConfigurationManager is { } authority) await authority.GetBaseConfigurationAsync(req.Aborted);
            result = await _tokens.ValidateTokenAsync(token, _parameters);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The library reports refusals in its result; an exception here is a fault (the authority unreachable, say): the
            // token is not accepted, and the client is not told the server's reasons.
            req.CredentialError = "The token could not be checked.";
            return;
        }
        if (result.IsValid && result.ClaimsIdentity is { } identity)
        {
            req.User = new ClaimsPrincipal(identity);
            // Accepted until exp plus the clock skew validation allows: a stream opened with it ends then, not before (a client
            // reconnecting with the same token would be let in again).
            req.CredentialExpires = result.SecurityToken is JsonWebToken { ValidTo: var to } && to != DateTime.MinValue
                ? new DateTimeOffset(to, TimeSpan.Zero) + _parameters.ClockSkew : null;
        }
        else req.CredentialError = TokenErrors.Describe(token, result.Exception);
    }

    /// <summary>The app's parameters, copied (never changed under the app) with Bocata's rules: a token must be signed, must be
    /// checkable (keys, an issuer and an audience to compare with), and names its user by <c>sub</c> and its roles by <c>role</c>
    /// unless the app says otherwise.</summary>
    private static TokenValidationParameters Harden(TokenValidationParameters jwt)
    {
        if (!jwt.RequireSignedTokens)
            throw new InvalidOperationException("s.Jwt.RequireSignedTokens is false, but Bocata never accepts unsigned tokens (anyone can write one): leave it true.");
        var hasKeys = jwt.IssuerSigningKey is not null || jwt.IssuerSigningKeys?.Any() == true || jwt.IssuerSigningKeyResolver is not null
            || jwt.IssuerSigningKeyResolverUsingConfiguration is not null || jwt.ConfigurationManager is not null;
        if (!hasKeys)
            throw new InvalidOperationException("s.Jwt has no signing key, so no token could ever be valid: set IssuerSigningKey (e.g. new SymmetricSecurityKey(key) or the issuer's RsaSecurityKey).");
        if (jwt.ValidateIssuer && jwt.ValidIssuer is null && jwt.ValidIssuers?.Any() != true && jwt.IssuerValidator is null && jwt.ConfigurationManager is null)
            throw new InvalidOperationException("s.Jwt checks the issuer but names none: set ValidIssuer = \"https://id.example\" (the tokens' iss), or ValidateIssuer = false.");
        if (jwt.ValidateAudience && jwt.ValidAudience is null && jwt.ValidAudiences?.Any() != true && jwt.AudienceValidator is null)
            throw new InvalidOperationException("s.Jwt checks the audience but names none: set ValidAudience = \"api\" (the tokens' aud), or ValidateAudience = false.");
        var hardened = jwt.Clone();
        if (hardened.NameClaimType == ClaimsIdentity.DefaultNameClaimType) hardened.NameClaimType = JwtRegisteredClaimNames.Sub;
        if (hardened.RoleClaimType == ClaimsIdentity.DefaultRoleClaimType) hardened.RoleClaimType = "role";
        return hardened;
    }
}
