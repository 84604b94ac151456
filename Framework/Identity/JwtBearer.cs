using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
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

    public static void Install() => s_create ??= static parameters => new JwtBearer(parameters).AuthenticateAsync;

    /// <summary>What signs a request in from its bearer token, or null when the app checks none.</summary>
    public static Func<string, Request, ValueTask>? Create(TokenValidationParameters? parameters) =>
        parameters is null ? null : (s_create ?? throw new InvalidOperationException("Bearer tokens were not set up: set them with app.Configure(s => s.Jwt = ...)."))(parameters);

    private async ValueTask AuthenticateAsync(string token, Request req)
    {
        var result = await _tokens.ValidateTokenAsync(token, _parameters);
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
