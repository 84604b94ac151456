using System.Net.Sockets;
using System.Text;

namespace Bocata.Tests.Testing;

/// <summary>Sends bytes exactly as given over a TCP socket and reads until the server closes: for requests HttpClient would refuse to send.</summary>
internal static class RawHttp
{
    public static async Task<string> SendAsync(Uri baseAddress, string request)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.Latin1);
        return await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(15));
    }

    public static Task<string> GetAsync(Uri baseAddress, string target) =>
        SendAsync(baseAddress, $"GET {target} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\nConnection: close\r\n\r\n");
}
