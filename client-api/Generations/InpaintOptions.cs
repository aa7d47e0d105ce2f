using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Pipeline;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// How a request's mask is read and used, which differs between the API surfaces: the native API's choices by default,
/// AUTOMATIC1111's fields on <c>/sdapi/v1/img2img</c>, OpenAI's conventions on <c>/v1/images/edits</c>.
/// </summary>
public sealed record InpaintOptions
{
    /// <summary>The native API's and AUTOMATIC1111's default blur, in pixels.</summary>
    public const int DefaultBlur = 4;

    /// <summary>How the upload marks what to repaint, inverted and blurred. Default: white repaints, a blur of 4.</summary>
    public MaskOptions Mask { get; init; } = new() { BlurX = DefaultBlur, BlurY = DefaultBlur };

    /// <summary>What the masked area starts from. Default: the original pixels.</summary>
    public InpaintFill Fill { get; init; } = InpaintFill.Original;

    /// <summary>Render only the box around the mask at the full size. Default: false.</summary>
    public bool OnlyMasked { get; init; }

    /// <summary>Pixels of context around the mask's box with <see cref="OnlyMasked"/>. Default: 0.</summary>
    public int Padding { get; init; }

    /// <summary>Without a mask, the init image's own transparency is the mask (OpenAI's edits). Default: false.</summary>
    public bool ImageAlphaIsMask { get; init; }

    /// <summary>The strength when a mask applies, overriding the request's (OpenAI's edits repaint fully). Default: none.</summary>
    public float? StrengthWithMask { get; init; }

    /// <summary>The native API's options for a request's <c>mask_blur</c>.</summary>
    public static InpaintOptions Native(int? maskBlur) => new()
    {
        Mask = new MaskOptions { BlurX = maskBlur ?? DefaultBlur, BlurY = maskBlur ?? DefaultBlur },
    };
}
