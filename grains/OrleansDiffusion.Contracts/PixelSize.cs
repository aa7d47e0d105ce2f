namespace OrleansDiffusion.Contracts;

/// <summary>A size in pixels, height first as diffusers writes SDXL's <c>original_size</c> and <c>target_size</c>.</summary>
[GenerateSerializer, Immutable, Alias("od.PixelSize")]
public sealed record PixelSize(
    [property: Id(0)] int Height,
    [property: Id(1)] int Width);
