using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Api.Tests.OpenAI;

/// <summary>What an encoded image really is: its media type, read from its bytes by the decoder, and its size.</summary>
public sealed record EncodedImage(string MediaType, int Width, int Height)
{
    public static EncodedImage Of(byte[] bytes)
    {
        using var image = Image.Load<Rgb24>(bytes, out var format);
        return new(format.DefaultMimeType, image.Width, image.Height);
    }

    public static EncodedImage OfBase64(string? base64) => Of(Convert.FromBase64String(base64 ?? throw new ArgumentNullException(nameof(base64))));
}
