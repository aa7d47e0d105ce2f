namespace OrleansDiffusion.Engine.Models;

/// <summary>The API names of <see cref="ModelFamily"/> values and what each family implies.</summary>
public static class ModelFamilies
{
    /// <summary><c>sd1</c>, <c>sd2</c>, <c>sdxl</c> or <c>sdxl-turbo</c>.</summary>
    public static string Name(ModelFamily family) => family switch
    {
        ModelFamily.StableDiffusion1 => "sd1",
        ModelFamily.StableDiffusion2 => "sd2",
        ModelFamily.StableDiffusionXL => "sdxl",
        ModelFamily.StableDiffusionXLTurbo => "sdxl-turbo",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "Unknown model family."),
    };

    /// <summary>Whether the family is SDXL-shaped: two text encoders, pooled embeddings and <c>time_ids</c>.</summary>
    public static bool IsXL(ModelFamily family) => family is ModelFamily.StableDiffusionXL or ModelFamily.StableDiffusionXLTurbo;
}
