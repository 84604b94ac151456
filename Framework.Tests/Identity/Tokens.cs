using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Bocata.Tests.Identity;

/// <summary>Tokens as an identity provider issues them (Microsoft.IdentityModel's own handler), and the parameters an app checks them with.</summary>
internal static class Tokens
{
    public const string Issuer = "https://id.example";
    public const string Audience = "api";
    public static readonly SymmetricSecurityKey Key = new(Encoding.UTF8.GetBytes("a-test-signing-key-of-at-least-32-bytes!!"));

    public static TokenValidationParameters Parameters(SecurityKey? key = null) => new()
    {
        ValidIssuer = Issuer,
        ValidAudience = Audience,
        IssuerSigningKey = key ?? Key,
    };

    public static App App(SecurityKey? key = null, Action<Settings>? configure = null) => TestApps.Quiet(s =>
    {
        s.Jwt = Parameters(key);
        configure?.Invoke(s);
    });

    public static string Issue(string sub = "42", Dictionary<string, object>? claims = null, DateTime? expires = null, string audience = Audience,
        SigningCredentials? signing = null, DateTime? notBefore = null)
    {
        var all = new Dictionary<string, object> { ["sub"] = sub };
        foreach (var (k, v) in claims ?? []) all[k] = v;
        var exp = expires ?? DateTime.UtcNow.AddMinutes(10);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = audience,
            Claims = all,
            IssuedAt = (notBefore ?? exp.AddHours(-1)),
            NotBefore = notBefore ?? exp.AddHours(-1),
            Expires = exp,
            SigningCredentials = signing ?? new SigningCredentials(Key, SecurityAlgorithms.HmacSha256),
        });
    }

    /// <summary>A token with <c>alg: none</c> and no signature, written by hand as an attacker would.</summary>
    public static string Unsigned(string sub = "42")
    {
        static string Part(string json) => Base64UrlEncoder.Encode(json);
        var exp = DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds();
        return Part("""{"alg":"none","typ":"JWT"}""") + "." + Part($$"""{"sub":"{{sub}}","iss":"{{Issuer}}","aud":"{{Audience}}","exp":{{exp}},"role":"admin"}""") + ".";
    }

    public static HttpRequestMessage Get(string path, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null) request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    /// <summary>An RSA key pair: the app trusts the public key.</summary>
    public static (RsaSecurityKey Private, RsaSecurityKey Public, byte[] PublicDer) Rsa()
    {
        var rsa = RSA.Create(2048);
        var publicRsa = RSA.Create();
        publicRsa.ImportParameters(rsa.ExportParameters(false));
        return (new RsaSecurityKey(rsa) { KeyId = "k1" }, new RsaSecurityKey(publicRsa) { KeyId = "k1" }, rsa.ExportSubjectPublicKeyInfo());
    }

    public static ClaimsPrincipal User(string name, params string[] roles) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, name), .. roles.Select(r => new Claim(ClaimTypes.Role, r))], "password"));
}
