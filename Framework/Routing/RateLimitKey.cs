using System.Net;
using System.Net.Sockets;

namespace Bocata;

/// <summary>Who a request counts against for <c>.RateLimit</c>: the signed-in user when there is one, else the client's address.</summary>
internal static class RateLimitKey
{
    public static string For(Request req)
    {
        // The signed-in user (API.md "Rate limits": req.User.Identity.Name), as "user:" + name so that a name can never collide
        // with an address; else the client's address.
        if (req.User.Identity is { IsAuthenticated: true, Name: { Length: > 0 } name }) return "user:" + name;
        return Address(req.Client.Host);
    }

    /// <summary>The client's address (already the forwarded one from a trusted proxy), normalised: an IPv4-mapped IPv6 address
    /// is its IPv4 address, and an IPv6 address counts as its /64 — one subscriber's allocation (RFC 6177), which a client can
    /// rotate through freely, so a budget per address would be no budget at all.</summary>
    internal static string Address(string host)
    {
        if (!IPAddress.TryParse(host, out var address)) return "ip:" + host;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return "ip:" + address;
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return "ip:" + new IPAddress(bytes) + "/64";
    }
}
