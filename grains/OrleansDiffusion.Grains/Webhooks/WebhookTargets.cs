using System.Net;
using System.Net.Sockets;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// Which URLs a webhook may call: absolute <c>https</c> (or <c>http</c> when allowed) URLs without credentials, on
/// public addresses unless <see cref="WebhookOptions.AllowPrivateTargets"/>. The API checks a target when the job is
/// submitted and the sender checks every address it connects to, after DNS resolution, so a name that later resolves
/// to a private address (DNS rebinding) is refused too.
/// </summary>
public static class WebhookTargets
{
    /// <summary>Longest target URL accepted.</summary>
    public const int MaxLength = 2048;

    /// <summary>Why the URL cannot be a target (its address aside), or null when its form is acceptable.</summary>
    public static string? CheckForm(string url, WebhookOptions options)
    {
        if (url.Length > MaxLength || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return $"must be an absolute URL of at most {MaxLength} characters";
        }

        if (uri.Scheme != Uri.UriSchemeHttps && !(options.AllowHttp && uri.Scheme == Uri.UriSchemeHttp))
        {
            return options.AllowHttp ? "must be an https or http URL" : "must be an https URL";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Fragment))
        {
            return "must carry no credentials and no fragment";
        }

        return null;
    }

    /// <summary>
    /// Why the URL's host cannot be called (it resolves to no address, or to one that is not public while private
    /// targets are not allowed), or null when it can.
    /// </summary>
    public static async Task<string?> CheckAddressAsync(string url, WebhookOptions options, CancellationToken cancellationToken)
    {
        var host = new Uri(url).IdnHost;
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        }
        catch (SocketException)
        {
            return $"its host '{host}' does not resolve";
        }

        if (addresses.Length == 0)
        {
            return $"its host '{host}' does not resolve";
        }

        return !options.AllowPrivateTargets && addresses.FirstOrDefault(a => !IsPublic(a)) is { } refused
            ? $"its host resolves to {refused}, a loopback, private or link-local address"
            : null;
    }

    /// <summary>
    /// Whether an address is on the public internet: not unspecified, loopback, private (10/8, 172.16/12, 192.168/16,
    /// fc00::/7), shared (100.64/10), link-local (169.254/16, fe80::/10), multicast or reserved (240/4, broadcast).
    /// An IPv4 address inside IPv6 is judged as IPv4.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] == 0 || b[0] == 10 || b[0] >= 224
                || (b[0] == 100 && b[1] >= 64 && b[1] < 128)
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 172 && b[1] >= 16 && b[1] < 32)
                || (b[0] == 192 && b[1] == 168));
        }

        var bytes = address.GetAddressBytes();
        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal
            || bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0); // ::/96, IPv4-compatible forms
    }
}
