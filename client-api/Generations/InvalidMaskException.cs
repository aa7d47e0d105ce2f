using OrleansDiffusion.Engine.Imaging;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// The request's mask cannot be used (not an image, over the limits, not the image's size, or repainting nothing), so
/// that each API surface can name the mask, not the init image, in its answer (400, or 413 when too large).
/// </summary>
public sealed class InvalidMaskException(InvalidImageException problem)
    : Exception($"mask: {problem.Message}", problem)
{
    public InvalidImageReason Reason { get; } = problem.Reason;

    /// <summary>413 for a mask over the size limits, 400 otherwise.</summary>
    public int StatusCode => Reason == InvalidImageReason.TooLarge ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest;
}
