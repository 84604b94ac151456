using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>Starts and stops Kestrel bare (no Generic Host, no WebApplication), built from Kestrel's own service registrations.</summary>
internal sealed class KestrelHost : IAsyncDisposable
{
    private readonly IServer _server;
    private readonly ServiceProvider _services;

    private KestrelHost(IServer server, ServiceProvider services, string url)
    {
        _server = server;
        _services = services;
        Url = url;
    }

    public string Url { get; }

    public static async Task<KestrelHost> StartAsync(ServerState state, string host, int port, CancellationToken cancellationToken)
    {
        var settings = state.Settings;
        var loggers = state.Services.GetService(typeof(ILoggerFactory)) as ILoggerFactory ?? throw new InvalidOperationException("No logger factory.");
        // Built through Kestrel's own service registrations, as the ASP.NET Core host does: its pinned block memory pool
        // (with idle eviction), its metrics and heartbeat. A transport constructed by hand falls back to a plain array pool
        // and rents a fresh block for every in-flight send of a broadcast. One provider per server: sharing a transport hangs.
        var services = ServiceRegistrationShim.KestrelServices(loggers, options =>
        {
            options.AddServerHeader = false;
            var limits = options.Limits;
            limits.MaxRequestBodySize = settings.MaxRequestBodySize;
            limits.MaxRequestHeadersTotalSize = settings.MaxRequestHeadersTotalSize;
            limits.MaxRequestHeaderCount = settings.MaxRequestHeaderCount;
            limits.RequestHeadersTimeout = settings.RequestHeadersTimeout;
            limits.KeepAliveTimeout = settings.KeepAliveTimeout;
            limits.MinRequestBodyDataRate = settings.MinRequestBodyDataRate is { } rate ? new MinDataRate(rate, settings.RequestBodyGracePeriod) : null;
            // Kestrel frees a connection's slot when it upgrades, so its own limit would let WebSockets double the total:
            // a connection middleware counts every connection for its whole life instead (see ConnectionLimit).
            limits.MaxConcurrentConnections = null;
            limits.MaxConcurrentUpgradedConnections = settings.MaxWebSocketConnections;
            var cap = settings.MaxConcurrentConnections is { } max ? new ConnectionLimit(max, state.Log) : null;
            Listen(options, host, port, settings.Certificate, cap);
        });
        var server = services.GetRequiredService<IServer>();
        try
        {
            await server.StartAsync(new BocataApplication(state), cancellationToken);
        }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            await services.DisposeAsync();
            throw new AddressInUseException($"Bocata cannot listen on {host}:{port}: the address is already in use. Stop the other server or choose another port, e.g. PORT={(port == 65535 ? 8001 : port + 1)}.", e);
        }
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel started without an address.");
        return new KestrelHost(server, services, address.Replace("[::]", "localhost", StringComparison.Ordinal));
    }

    private static void Listen(KestrelServerOptions options, string host, int port, X509Certificate2? certificate, ConnectionLimit? cap)
    {
        void Configure(ListenOptions listen)
        {
            if (cap is not null) listen.Use(cap.Wrap);
            if (certificate is null) return;
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            HttpsSupport.UseHttps(listen, certificate);
        }

        switch (host)
        {
            case "localhost":
                if (port == 0) options.Listen(IPAddress.Loopback, 0, Configure);
                else options.ListenLocalhost(port, Configure);
                break;
            case "0.0.0.0" or "*":
                options.Listen(IPAddress.Any, port, Configure);
                break;
            case "::":
                options.Listen(IPAddress.IPv6Any, port, Configure);
                break;
            default:
                if (!IPAddress.TryParse(host.Trim('[', ']'), out var ip))
                    throw new ArgumentException($"HOST '{host}' is not an IP address: use 127.0.0.1, 0.0.0.0, ::, localhost or an address of this machine.", nameof(host));
                options.Listen(ip, port, Configure);
                break;
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => _server.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}

/// <summary>Thrown when the app cannot listen because another process holds the address.</summary>
public sealed class AddressInUseException(string message, Exception inner) : IOException(message, inner);
