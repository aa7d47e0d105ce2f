namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// Where the second pass runs: the first pass's latents are enlarged to <see cref="UpscaleLatentWidth"/> x
/// <see cref="UpscaleLatentHeight"/> and the window from (<see cref="CropLeft"/>, <see cref="CropTop"/>) of
/// <see cref="Width"/> / 8 x <see cref="Height"/> / 8 is kept; <see cref="Width"/> x <see cref="Height"/> is the image.
/// </summary>
public readonly record struct HiresPlan(int UpscaleLatentWidth, int UpscaleLatentHeight, int CropLeft, int CropTop, int Width, int Height);
