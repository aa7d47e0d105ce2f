namespace OrleansDiffusion.Engine.Imaging;

/// <summary>Why an input image was refused, so that an API can answer 413, 415 or 400 without reading messages.</summary>
public enum InvalidImageReason
{
    /// <summary>The bytes or text are not an image of any accepted format (PNG, JPEG, WebP, BMP, GIF).</summary>
    UnknownFormat,

    /// <summary>The encoded size or the declared dimensions exceed <see cref="ImageLimits"/>.</summary>
    TooLarge,

    /// <summary>The format was recognised but its content is damaged or truncated.</summary>
    Corrupt,

    /// <summary>The text is not valid base64, or not an image data URL.</summary>
    InvalidEncoding,

    /// <summary>A mask whose width and height differ from the image it masks.</summary>
    WrongSize,

    /// <summary>A mask that marks no pixel to repaint.</summary>
    EmptyMask,
}
