using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// Sends webhook deliveries from this silo: one POST each, signed (<see cref="WebhookSignature"/>), within
/// <see cref="WebhookOptions.Timeout"/>, with no proxy and no redirect followed (a 3xx is a failed attempt). Every address
/// a connection goes to is checked after DNS resolution (<see cref="WebhookTargets.IsPublic"/>), and the response's
/// body is never read: only its status counts.
/// </summary>
public sealed partial class WebhookSender : IDisposable
{
    private readonly HttpClient _http;
    private readonly WebhookOptions _options;
    private readonly DiffusionMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<WebhookSender> _logger;

    public WebhookSender(IOptions<DiffusionOptions> options, DiffusionMetrics metrics, TimeProvider time, ILogger<WebhookSender> logger)
    {
        _options = options.Value.Webhooks;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            ConnectTimeout = _options.Timeout,
            MaxResponseHeadersLength = 16, // KiB
            MaxResponseDrainSize = 4096, // a longer body is not drained for the connection's reuse: the connection is dropped
            ResponseDrainTimeout = TimeSpan.FromMilliseconds(500),
            PooledConnectionLifetime = TimeSpan.FromMinutes(1), // a name is resolved and checked again at least this often
            ConnectCallback = ConnectAsync,
        };
        _http = new HttpClient(handler) { Timeout = _options.Timeout };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("OrleansDiffusion-Webhooks/1");
    }

    /// <summary>Delivers one event; true when the receiver answered 2xx. Failures are logged and counted, never thrown.</summary>
    public async Task<bool> SendAsync(WebhookSubscription subscription, string messageId, string body, CancellationToken cancellationToken)
    {
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, subscription.Target)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("webhook-id", messageId);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", WebhookSignature.Sign(subscription.Secret, messageId, timestamp, body));
        try
        {
            // Headers only: the body, whatever its size, is not read.
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                _metrics.WebhookDelivery("delivered");
                return true;
            }

            _metrics.WebhookDelivery("refused");
            Log.Refused(_logger, messageId, Host(subscription), (int)response.StatusCode);
            return false;
        }
        catch (HttpRequestException e) when (e.InnerException is TargetRefusedException refused)
        {
            _metrics.WebhookDelivery("blocked");
            Log.Blocked(_logger, messageId, Host(subscription), refused.Message);
            return false;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _metrics.WebhookDelivery("failed");
            Log.Failed(_logger, messageId, Host(subscription), e.Message);
            return false;
        }
    }

    public void Dispose() => _http.Dispose();

    private static string Host(WebhookSubscription subscription) => new Uri(subscription.Target).Authority;

    /// <summary>Resolves the host and connects only to addresses the options allow (against DNS rebinding).</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        if (!_options.AllowPrivateTargets && addresses.FirstOrDefault(a => !WebhookTargets.IsPublic(a)) is { } refused)
        {
            throw new TargetRefusedException($"{host} resolves to {refused}, a loopback, private or link-local address");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private sealed class TargetRefusedException(string message) : Exception(message);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Webhook {MessageId} to {Host} was answered {Status}; it is retried")]
        public static partial void Refused(ILogger logger, string messageId, string host, int status);

        [LoggerMessage(2, LogLevel.Warning, "Webhook {MessageId} to {Host} was not sent: {Reason}")]
        public static partial void Blocked(ILogger logger, string messageId, string host, string reason);

        [LoggerMessage(3, LogLevel.Information, "Webhook {MessageId} to {Host} failed: {Reason}; it is retried")]
        public static partial void Failed(ILogger logger, string messageId, string host, string reason);
    }
}
