namespace OrleansDiffusion.Engine.Imaging;

/// <summary>How an uploaded mask marks the pixels to repaint.</summary>
public enum MaskConvention
{
    /// <summary>
    /// AUTOMATIC1111's (and the native API's): white repaints, black keeps, grey is in between (the luminance). A mask
    /// with transparent pixels marks with its alpha instead, opaque repainting (thresholded at half), as A1111 reads a
    /// mask drawn on a transparent canvas.
    /// </summary>
    WhiteRepaints,

    /// <summary>OpenAI's image edits: transparent pixels repaint, opaque ones keep (255 minus the alpha).</summary>
    TransparentRepaints,
}
