namespace OrleansDiffusion.Contracts;

/// <summary>The top-left corner of a crop in pixels, as diffusers writes SDXL's <c>crops_coords_top_left</c>.</summary>
[GenerateSerializer, Immutable, Alias("od.CropOrigin")]
public sealed record CropOrigin(
    [property: Id(0)] int Top,
    [property: Id(1)] int Left);
