using System.Threading.Channels;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>
/// Picks the latent previews that a streamed OpenAI request sends as its <c>partial_images</c>. The engine renders a
/// preview of image 0 every <c>Diffusion:PreviewInterval</c> steps and at the last step; partial image <c>i</c> of
/// <c>N</c> is the first preview at or after <c>(i + 1) / (N + 1)</c> of the steps, so the N partial images are
/// spread over the run and the final image follows the last. A run with fewer previews than that sends fewer partial
/// images, as OpenAI does when the image is done first; a result from the cache sends none. Events may arrive on
/// several threads: the choice and the queueing happen under one lock, so the indexes leave in order.
/// </summary>
public sealed class PartialImageFeed(int count)
{
    private readonly Lock _lock = new();
    private readonly Channel<(int Index, byte[] Preview)> _due = Channel.CreateUnbounded<(int, byte[])>(new() { SingleReader = true });
    private int _sent;

    /// <summary>Takes the event's preview when the next partial image is due (the inference's event callback).</summary>
    public void Offer(InferenceEvent inferenceEvent)
    {
        if (inferenceEvent.Preview is not { } preview || inferenceEvent.TotalSteps <= 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_sent < count && (long)inferenceEvent.Step * (count + 1) >= (long)(_sent + 1) * inferenceEvent.TotalSteps)
            {
                _due.Writer.TryWrite((_sent++, preview));
            }
        }
    }

    /// <summary>No more previews will come: the reader ends after those already due.</summary>
    public void Complete() => _due.Writer.TryComplete();

    /// <summary>The due previews with their partial image index, until <see cref="Complete"/>.</summary>
    public IAsyncEnumerable<(int Index, byte[] Preview)> ReadAllAsync(CancellationToken cancellationToken) =>
        _due.Reader.ReadAllAsync(cancellationToken);
}
