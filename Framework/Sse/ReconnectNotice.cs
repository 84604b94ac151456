using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>
/// The last frame of an event stream the server ends because it stops: a <c>retry:</c> field (no event) that makes the
/// browser's EventSource reconnect after about a second instead of its default 3 to 5 s, so behind a proxy it is on another
/// instance with its Last-Event-ID at once. Spread over 0.5–1.5 s so thousands of clients do not reconnect in one instant.
/// </summary>
internal static class ReconnectNotice
{
    internal const int MinDelayMs = 500, SpreadMs = 1000;

    /// <summary>Writes and flushes the notice when the stream ends because the server stops (not when the client left).</summary>
    public static async Task SendAsync(RequestContext context)
    {
        if (!context.Server.Stopping.IsCancellationRequested || context.ClientGone || context.IsAbandoned) return;
        try
        {
            var delay = MinDelayMs + Random.Shared.Next(SpreadMs);
            var writer = context.BodyFeature.Writer;
            writer.WriteAll(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"retry: {delay}\n\n")));
            // No token: the stop's own timeout aborts a client that does not read.
            await writer.FlushAsync();
        }
        catch (Exception e)
        {
            // The connection went away meanwhile: nothing to tell it.
            context.Server.Log.LogDebug(e, "Could not send the reconnect notice to {Path}", context.Request.Path);
        }
    }
}
