namespace OrleansDiffusion.Engine.Imaging;

/// <summary>How a latent preview is encoded.</summary>
public enum PreviewFormat
{
    /// <summary>JPEG, quality 80: the smallest for streaming progress to a browser.</summary>
    Jpeg,

    /// <summary>PNG, fastest compression: lossless, larger.</summary>
    Png,
}
