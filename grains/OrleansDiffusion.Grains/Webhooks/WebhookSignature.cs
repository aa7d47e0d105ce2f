using System.Security.Cryptography;
using System.Text;

namespace OrleansDiffusion.Grains.Webhooks;

/// <summary>
/// Standard Webhooks signing: the secret is <c>whsec_</c> followed by the base64 of its key bytes, and a delivery carries
/// <c>webhook-signature: v1,{base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))}</c>, so the receivers'
/// libraries of that specification verify it as they are.
/// </summary>
public static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";

    /// <summary>The form of a secret in configuration: <c>whsec_</c> and the base64 of 24 to 64 bytes.</summary>
    public const string SecretPattern = "^whsec_[A-Za-z0-9+/]{32,86}={0,2}$";

    /// <summary>The key bytes of a secret, or null when it is not <c>whsec_</c> and the base64 of 24 to 64 bytes.</summary>
    public static byte[]? KeyOf(string? secret)
    {
        if (secret is null || !secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var encoded = secret[SecretPrefix.Length..];
        var buffer = new byte[encoded.Length];
        return Convert.TryFromBase64String(encoded, buffer, out var length) && length is >= 24 and <= 64 ? buffer[..length] : null;
    }

    /// <summary>Whether <paramref name="secret"/> is usable (see <see cref="KeyOf"/>).</summary>
    public static bool IsValid(string? secret) => KeyOf(secret) is not null;

    /// <summary>The <c>webhook-signature</c> header value for one delivery.</summary>
    public static string Sign(string secret, string messageId, long timestamp, string body)
    {
        var key = KeyOf(secret) ?? throw new ArgumentException("Not a whsec_ secret.", nameof(secret));
        var signed = Encoding.UTF8.GetBytes($"{messageId}.{timestamp}.{body}");
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
    }
}
