using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OrleansDiffusion.Benchmarks.Burst;

/// <summary>
/// A counting reverse proxy in front of one Azurite port: a TCP listener on a free loopback port that pairs every
/// connection it accepts with one of its own to Azurite and relays both directions byte for byte. On the way up it reads
/// just enough HTTP/1.1 (the request line, <c>Content-Length</c> or chunked framing) to count each request by method and
/// the body bytes of writes in <see cref="StorageCounters"/>, before the bytes are sent on. Responses are relayed
/// unparsed and a close on either side is passed to the other, so keep-alive, <c>Expect: 100-continue</c> and idle
/// closes behave as they do against Azurite directly. Shared-key signatures cover the path, not the host and port, so a
/// client signs for the proxy's endpoint as for Azurite's.
/// </summary>
internal sealed class CountingProxy : IAsyncDisposable
{
    private const int BufferBytes = 64 * 1024;

    private readonly TcpListener _listener;
    private readonly StorageService _service;
    private readonly int _upstreamPort;
    private readonly StorageCounters _counters;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Task, bool> _relays = new();
    private readonly Task _accepting;

    private CountingProxy(StorageService service, int upstreamPort, StorageCounters counters)
    {
        _service = service;
        _upstreamPort = upstreamPort;
        _counters = counters;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start(backlog: 512);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    /// <summary>The loopback port clients connect to instead of Azurite's.</summary>
    public int Port { get; }

    /// <summary>Starts relaying <paramref name="service"/> requests to Azurite's <paramref name="upstreamPort"/> on loopback.</summary>
    public static CountingProxy Start(StorageService service, int upstreamPort, StorageCounters counters) =>
        new(service, upstreamPort, counters);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        await Task.WhenAll(_relays.Keys);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (_stop.IsCancellationRequested && e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var relay = RelayAsync(client);
            _relays.TryAdd(relay, true);
            _ = relay.ContinueWith(t => _relays.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                client.NoDelay = true;
                upstream.NoDelay = true;
                await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort, _stop.Token);
                var down = client.GetStream();
                var up = upstream.GetStream();
                await Task.WhenAll(
                    PumpAsync(() => ForwardRequestsAsync(down, up), client.Client, upstream.Client),
                    PumpAsync(() => up.CopyToAsync(down, BufferBytes, _stop.Token), upstream.Client, client.Client));
            }
            catch (Exception e) when (IsDisconnect(e))
            {
                // Azurite refused or the benchmark is stopping: the client sees its connection closed.
            }
        }
    }

    /// <summary>
    /// Runs one direction; at its end of stream, half-closes the destination so the far side sees the close. On a
    /// failure closes both sockets, which ends the other direction too.
    /// </summary>
    private static async Task PumpAsync(Func<Task> copy, Socket source, Socket destination)
    {
        try
        {
            await copy();
            destination.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            source.Close();
            destination.Close();
        }
    }

    private async Task ForwardRequestsAsync(NetworkStream from, NetworkStream to)
    {
        var observer = new RequestObserver(_service, _counters);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                // Counted before Azurite can see it, so a snapshot taken after a response includes its request.
                observer.Observe(buffer.AsSpan(0, read));
                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool IsDisconnect(Exception e) =>
        e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidDataException;

    /// <summary>
    /// Follows a connection's request stream across reads: request line and headers, then a body of
    /// <c>Content-Length</c> bytes or chunks, then the next request.
    /// </summary>
    private sealed class RequestObserver(StorageService service, StorageCounters counters)
    {
        private const int MaxLineBytes = 64 * 1024;

        private readonly StringBuilder _line = new();
        private State _state = State.RequestLine;
        private string _method = string.Empty;
        private long _contentLength;
        private bool _chunked;
        private long _remaining;

        private enum State
        {
            RequestLine,
            Headers,
            Body,
            ChunkSize,
            ChunkData,
            ChunkDataEnd,
            Trailers,
        }

        public void Observe(ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                if (_state is State.Body or State.ChunkData)
                {
                    var take = (int)Math.Min(_remaining, data.Length);
                    if (StorageCounters.IsWrite(_method))
                    {
                        counters.CountWriteBytes(service, take);
                    }

                    _remaining -= take;
                    data = data[take..];
                    if (_remaining == 0)
                    {
                        _state = _state == State.Body ? State.RequestLine : State.ChunkDataEnd;
                    }

                    continue;
                }

                var newline = data.IndexOf((byte)'\n');
                if (newline < 0)
                {
                    Append(data);
                    return;
                }

                Append(data[..newline]);
                data = data[(newline + 1)..];
                var line = _line.ToString().TrimEnd('\r');
                _line.Clear();
                OnLine(line);
            }
        }

        private void Append(ReadOnlySpan<byte> bytes)
        {
            if (_line.Length + bytes.Length > MaxLineBytes)
            {
                throw new InvalidDataException($"An HTTP line longer than {MaxLineBytes} bytes: not a request stream this proxy follows.");
            }

            _line.Append(Encoding.Latin1.GetString(bytes));
        }

        private void OnLine(string line)
        {
            switch (_state)
            {
                case State.RequestLine when line.Length > 0:
                    var space = line.IndexOf(' ', StringComparison.Ordinal);
                    _method = space > 0 ? line[..space] : line;
                    _contentLength = 0;
                    _chunked = false;
                    counters.CountRequest(service, _method);
                    _state = State.Headers;
                    break;
                case State.Headers when line.Length == 0:
                    (_state, _remaining) = _chunked ? (State.ChunkSize, 0L)
                        : _contentLength > 0 ? (State.Body, _contentLength)
                        : (State.RequestLine, 0L);
                    break;
                case State.Headers:
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    if (colon <= 0)
                    {
                        throw new InvalidDataException($"Not an HTTP header: '{line}'.");
                    }

                    var name = line[..colon].Trim();
                    var value = line[(colon + 1)..].Trim();
                    if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                    {
                        _contentLength = long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var length)
                            ? length
                            : throw new InvalidDataException($"Not a Content-Length: '{value}'.");
                    }
                    else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
                        && value.Contains("chunked", StringComparison.OrdinalIgnoreCase))
                    {
                        _chunked = true;
                    }

                    break;
                case State.ChunkSize:
                    var size = long.TryParse(line.Split(';')[0].Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var chunk)
                        ? chunk
                        : throw new InvalidDataException($"Not a chunk size: '{line}'.");
                    (_state, _remaining) = size == 0 ? (State.Trailers, 0L) : (State.ChunkData, size);
                    break;
                case State.ChunkDataEnd:
                    _state = State.ChunkSize;
                    break;
                case State.Trailers when line.Length == 0:
                    _state = State.RequestLine;
                    break;
                default:
                    // An empty line between requests, or a trailer header.
                    break;
            }
        }
    }
}
