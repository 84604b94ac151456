using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Bocata;

/// <summary>
/// Kestrel's TLS, reached only through <see cref="Settings.Certificate"/>'s setter. Native AOT keeps what an app can reach:
/// an app that never sets a certificate publishes without SslStream, X.509 chains, OpenSSL bindings and the HTTP client
/// the chain builder loads (with compression, made optional the same way, 4 MB of the AOT benchmark app's 11.5 MB).
/// </summary>
internal static class HttpsSupport
{
    private static Action<IWebHostBuilder>? s_register;
    private static Action<ListenOptions, X509Certificate2>? s_listen;

    public static void Install()
    {
        s_register ??= static builder => builder.UseKestrelHttpsConfiguration();
        s_listen ??= static (listen, certificate) => listen.UseHttps(certificate);
    }

    /// <summary>Kestrel's HTTPS services, when a certificate was ever set.</summary>
    public static void Register(IWebHostBuilder builder) => s_register?.Invoke(builder);

    public static void UseHttps(ListenOptions listen, X509Certificate2 certificate) =>
        (s_listen ?? throw new InvalidOperationException("HTTPS was not set up: set the certificate with app.Configure(s => s.Certificate = ...)."))(listen, certificate);
}
