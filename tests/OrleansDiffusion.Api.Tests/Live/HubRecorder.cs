using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.TestHost;

namespace OrleansDiffusion.Api.Tests.Live;

/// <summary>A SignalR .NET client over the factory's TestServer that records every hub event in arrival order.</summary>
public sealed class HubRecorder : IAsyncDisposable
{
    public static readonly string[] EventNames = ["queued", "started", "progress", "completed", "failed", "cancelled"];

    private readonly Channel<(string Name, JsonElement Payload)> _events = Channel.CreateUnbounded<(string, JsonElement)>();

    private HubRecorder(HubConnection connection)
    {
        Connection = connection;
        foreach (var name in EventNames)
        {
            connection.On<JsonElement>(name, payload => _events.Writer.TryWrite((name, payload)));
        }
    }

    public HubConnection Connection { get; }

    public List<(string Name, JsonElement Payload)> Received { get; } = [];

    public static async Task<HubRecorder> ConnectAsync(TestServer server, string? accessToken = null, HttpTransportType transport = HttpTransportType.LongPolling)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(server.BaseAddress, "/hubs/generations"), options =>
            {
                options.Transports = transport;
                options.HttpMessageHandlerFactory = _ => server.CreateHandler();
                if (transport == HttpTransportType.WebSockets)
                {
                    options.SkipNegotiation = true;
                    options.WebSocketFactory = async (context, cancellationToken) =>
                    {
                        var client = server.CreateWebSocketClient();
                        if (accessToken is not null)
                        {
                            client.ConfigureRequest = request => request.Headers.Authorization = $"Bearer {accessToken}";
                        }

                        return await client.ConnectAsync(context.Uri, cancellationToken);
                    };
                }

                if (accessToken is not null)
                {
                    options.AccessTokenProvider = () => Task.FromResult<string?>(accessToken);
                }
            })
            .Build();
        var recorder = new HubRecorder(connection);
        await connection.StartAsync(TestContext.Current.CancellationToken);
        return recorder;
    }

    /// <summary>A client of a server on a real port (WebSockets, the bearer token as browsers send it: in the query).</summary>
    public static async Task<HubRecorder> ConnectAsync(Uri baseAddress, string? accessToken)
    {
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(baseAddress, "/hubs/generations"), options =>
            {
                if (accessToken is not null)
                {
                    options.AccessTokenProvider = () => Task.FromResult<string?>(accessToken);
                }
            })
            .Build();
        var recorder = new HubRecorder(connection);
        await connection.StartAsync(TestContext.Current.CancellationToken);
        return recorder;
    }

    public Task SubscribeAsync(Guid id) => Connection.InvokeAsync("Subscribe", id, TestContext.Current.CancellationToken);

    /// <summary>The next event, or a failure after <paramref name="seconds"/>.</summary>
    public async Task<(string Name, JsonElement Payload)> NextAsync(double seconds = 60)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        try
        {
            var next = await _events.Reader.ReadAsync(timeout.Token);
            Received.Add(next);
            return next;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"No hub event within {seconds} s; received so far: {string.Join(", ", Received.Select(e => e.Name))}");
        }
    }

    /// <summary>Reads events until a terminal one (completed, failed, cancelled) and returns them all.</summary>
    public async Task<List<(string Name, JsonElement Payload)>> UntilTerminalAsync(double seconds = 90)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var (name, _) = await NextAsync(Math.Max(1, (deadline - DateTime.UtcNow).TotalSeconds));
            if (name is "completed" or "failed" or "cancelled")
            {
                return Received;
            }
        }
    }

    /// <summary>Whether anything arrives within <paramref name="seconds"/> (for "nothing more" checks).</summary>
    public async Task<bool> AnyWithinAsync(double seconds)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            return await _events.Reader.WaitToReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();
}
