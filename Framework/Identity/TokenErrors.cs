using System.Globalization;
using Microsoft.IdentityModel.Tokens;

namespace Bocata;

/// <summary>Why a token was refused, in words fit for a client (RFC 6750's <c>error_description</c>: printable ASCII without
/// quotes) — never the library's own message, which may quote the token or the app's keys.</summary>
internal static class TokenErrors
{
    public static string Describe(string token, Exception? error) => error switch
    {
        // A JWS whose signature part is empty: alg none, or a signature stripped off.
        _ when token.EndsWith('.') => "The token is not signed.",
        SecurityTokenExpiredException expired => $"The token expired at {expired.Expires.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)}.",
        SecurityTokenNotYetValidException => "The token is not valid yet.",
        SecurityTokenNoExpirationException => "The token has no expiry.",
        SecurityTokenInvalidAudienceException => "The token is for another audience.",
        SecurityTokenInvalidIssuerException => "The token is from another issuer.",
        SecurityTokenInvalidAlgorithmException => "The token's algorithm is not accepted.",
        SecurityTokenInvalidSignatureException => "The token's signature does not verify.",
        SecurityTokenMalformedException or ArgumentException => "The token is malformed.",
        // The configuration manager could not read the authority's keys (IDX20803): not the token's fault, and not the
        // client's business why.
        InvalidOperationException => "The token could not be checked.",
        _ => "The token is invalid.",
    };
}
