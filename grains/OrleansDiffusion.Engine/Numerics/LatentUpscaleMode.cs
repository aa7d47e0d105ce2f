namespace OrleansDiffusion.Engine.Numerics;

/// <summary>How <see cref="LatentUpscale"/> interpolates: PyTorch's <c>interpolate</c> modes behind AUTOMATIC1111's latent upscalers.</summary>
public enum LatentUpscaleMode
{
    /// <summary><c>mode="bilinear"</c>, <c>align_corners=False</c>, no antialiasing: A1111's "Latent".</summary>
    Bilinear,

    /// <summary><c>mode="nearest"</c> (PyTorch's legacy rule, <c>floor(dst x in / out)</c>): "Latent (nearest)".</summary>
    Nearest,

    /// <summary><c>mode="nearest-exact"</c> (<c>floor((dst + 0.5) x in / out)</c>): "Latent (nearest-exact)".</summary>
    NearestExact,

    /// <summary><c>mode="bicubic"</c>, <c>align_corners=False</c>, Keys' cubic with a = -0.75, no antialiasing: "Latent (bicubic)".</summary>
    Bicubic,
}
