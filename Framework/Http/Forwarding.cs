using System.Net;

namespace Bocata;

/// <summary>
/// X-Forwarded-For/Proto/Host, believed only from a configured proxy (<see cref="Settings.TrustedProxies"/>). The client is
/// the right-most forwarded address that is not itself a trusted proxy (the first hop nobody trusted could have forged
/// everything to its left).
/// </summary>
internal static class Forwarding
{
    public static IPNetwork[] ParseProxies(IEnumerable<string>? entries)
    {
        var networks = new List<IPNetwork>();
        foreach (var entry in entries ?? [])
        {
            var text = entry?.Trim() ?? "";
            if (IPNetwork.TryParse(text, out var network)) networks.Add(network);
            else if (IPAddress.TryParse(text, out var address)) networks.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            else throw new ArgumentException($"TrustedProxies entry '{entry}' is neither an IP address (\"10.0.0.2\") nor a network (\"10.0.0.0/8\").", nameof(entries));
        }
        return [.. networks];
    }

    public static bool IsTrusted(IPNetwork[] proxies, IPAddress? address)
    {
        if (address is null || proxies.Length == 0) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        foreach (var network in proxies)
            if (network.Contains(address)) return true;
        return false;
    }

    /// <summary>The original client from <c>X-Forwarded-For</c>, or null when the header names nobody usable.</summary>
    public static string? Client(IPNetwork[] proxies, string? forwardedFor)
    {
        if (string.IsNullOrWhiteSpace(forwardedFor)) return null;
        var hops = forwardedFor.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        for (var i = hops.Length - 1; i >= 0; i--)
        {
            if (!IPAddress.TryParse(hops[i], out var address)) return null;
            if (i == 0 || !IsTrusted(proxies, address)) return address.ToString();
        }
        return null;
    }

    /// <summary>"http" or "https" from <c>X-Forwarded-Proto</c> (the last hop's), else null.</summary>
    public static string? Scheme(string? forwardedProto)
    {
        if (string.IsNullOrWhiteSpace(forwardedProto)) return null;
        var last = forwardedProto[(forwardedProto.LastIndexOf(',') + 1)..].Trim();
        return last.Equals("https", StringComparison.OrdinalIgnoreCase) ? "https" : last.Equals("http", StringComparison.OrdinalIgnoreCase) ? "http" : null;
    }

    /// <summary>The host from <c>X-Forwarded-Host</c>: the last value, the one the trusted proxy set or appended (earlier values
    /// may come from the client), if it is a valid host[:port].</summary>
    public static string? Host(string? forwardedHost)
    {
        if (string.IsNullOrWhiteSpace(forwardedHost)) return null;
        var last = forwardedHost[(forwardedHost.LastIndexOf(',') + 1)..].Trim();
        return Uri.CheckHostName(last.Split(':')[0]) != UriHostNameType.Unknown || last.StartsWith('[') ? last : null;
    }
}
