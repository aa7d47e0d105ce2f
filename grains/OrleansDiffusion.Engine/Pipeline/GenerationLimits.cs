namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>Bounds on what one request may ask of the engine.</summary>
public sealed record GenerationLimits
{
    /// <summary>Smallest width or height. Default: 64.</summary>
    public int MinSide { get; init; } = 64;

    /// <summary>Largest width of any model (SDXL's widest shapes, 1536 x 640 and beyond); each model may allow less. Default: 2048.</summary>
    public int MaxWidth { get; init; } = 2048;

    /// <summary>Largest height of any model; each model may allow less. Default: 2048.</summary>
    public int MaxHeight { get; init; } = 2048;

    /// <summary>Largest width x height. Default: 1024 x 1024.</summary>
    public long MaxPixels { get; init; } = 1024 * 1024;

    /// <summary>Most inference steps. Default: 150.</summary>
    public int MaxSteps { get; init; } = 150;

    /// <summary>Most images in one request. Default: 8.</summary>
    public int MaxImages { get; init; } = 8;

    /// <summary>Largest guidance scale. Default: 30.</summary>
    public float MaxGuidanceScale { get; init; } = 30f;

    public static GenerationLimits Default { get; } = new();
}
