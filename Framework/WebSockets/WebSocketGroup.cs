using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Bocata;

/// <summary>
/// Broadcast to many WebSockets, as <see cref="EventHub"/> does for event streams: a message is encoded once and queued for
/// every member; each member has its own bounded queue and sender, so a slow client never delays the others or the caller.
/// A member whose queue is full (more than <c>bufferSize</c> messages behind) or whose send takes longer than
/// <see cref="Settings.StreamWriteTimeout"/> is dropped: closed with 1013 (Try Again Later) and removed.
/// </summary>
/// <example><code>
/// var room = new WebSocketGroup();
/// app.WebSocketRoute("/chat", async ws =>
/// {
///     using var _ = room.Add(ws);
///     await foreach (var message in ws) room.Broadcast($"{ws.Session["name"]}: {message}");
/// });
/// </code></example>
public sealed class WebSocketGroup
{
    private readonly ConcurrentDictionary<WebSocket, Member> _members = new();
    private readonly int _bufferSize;
    private long _evictions;

    /// <summary>A group whose members may fall <paramref name="bufferSize"/> messages behind before they are dropped.</summary>
    public WebSocketGroup(int bufferSize = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        _bufferSize = bufferSize;
    }

    /// <summary>The members now.</summary>
    public int Count => _members.Count;

    /// <summary>How many members were dropped for falling behind.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>Adds an accepted WebSocket; dispose the result (or call <see cref="Remove"/>) when its handler ends.</summary>
    public IDisposable Add(WebSocket ws)
    {
        ArgumentNullException.ThrowIfNull(ws);
        if (!ws.Accepted) throw new InvalidOperationException("Accept the WebSocket before adding it to a group: await ws.AcceptAsync() (routes accept by default).");
        var member = new Member(this, ws, _bufferSize);
        if (!_members.TryAdd(ws, member)) throw new InvalidOperationException("This WebSocket is already in the group.");
        member.Start();
        return member;
    }

    /// <summary>Removes a WebSocket (without closing it).</summary>
    public void Remove(WebSocket ws)
    {
        if (_members.TryRemove(ws, out var member)) member.Stop();
    }

    /// <summary>Sends a text message to every member (but <paramref name="except"/>); returns how many it was queued for.</summary>
    public int Broadcast(string text, WebSocket? except = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Enqueue(new Message(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text), except);
    }

    /// <summary>Sends a binary message to every member (but <paramref name="except"/>).</summary>
    public int BroadcastBytes(byte[] bytes, WebSocket? except = null)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return Enqueue(new Message(bytes, WebSocketMessageType.Binary), except);
    }

    /// <summary>Sends a value as a JSON text message to every member (but <paramref name="except"/>), serialized once with
    /// <paramref name="options"/> (default <see cref="BocataJson.Options"/>).</summary>
    public int BroadcastJson(object? value, WebSocket? except = null, JsonSerializerOptions? options = null) =>
        Enqueue(new Message(JsonSerializer.SerializeToUtf8Bytes(value, BocataJson.TypeInfo(options ?? BocataJson.Options, value?.GetType() ?? typeof(object))), WebSocketMessageType.Text), except);

    private int Enqueue(Message message, WebSocket? except)
    {
        var queued = 0;
        foreach (var (ws, member) in _members)
        {
            if (ReferenceEquals(ws, except)) continue;
            if (member.TryQueue(message)) queued++;
            else Evict(member);
        }
        return queued;
    }

    private void Evict(Member member)
    {
        if (!_members.TryRemove(member.Socket, out _)) return;
        Interlocked.Increment(ref _evictions);
        member.Stop();
        _ = member.Socket.CloseAndDropAsync(1013, "Too far behind: reconnect.");
    }

    private readonly record struct Message(byte[] Payload, WebSocketMessageType Type);

    private sealed class Member(WebSocketGroup group, WebSocket socket, int bufferSize) : IDisposable
    {
        private readonly Channel<Message> _queue = Channel.CreateBounded<Message>(new BoundedChannelOptions(bufferSize)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: the member is evicted, nothing is dropped silently
        });

        public WebSocket Socket => socket;

        public bool TryQueue(Message message) => _queue.Writer.TryWrite(message);

        public void Start() => _ = SendLoopAsync();

        public void Stop() => _queue.Writer.TryComplete();

        public void Dispose() => group.Remove(socket);

        private async Task SendLoopAsync()
        {
            var timeout = socket.WriteTimeout;
            try
            {
                await foreach (var message in _queue.Reader.ReadAllAsync())
                {
                    using var slow = new CancellationTokenSource(timeout);
                    await socket.SendAsync(message.Payload, message.Type, slow.Token);
                }
            }
            catch (Exception e) when (e is WebSocketDisconnect or OperationCanceledException or WebSocketException or ObjectDisposedException or InvalidOperationException)
            {
                // Gone, closed, or too slow to take a message within the write timeout: out of the group.
                group.Evict(this);
            }
        }
    }
}
