using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Imaging;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>
/// <c>stream: true</c>: the answer as OpenAI streams it, server-sent events named by their <c>type</c>. Up to
/// <c>partial_images</c> (0-3) <c>image_generation.partial_image</c> events, each a latent preview of image 0 scaled to
/// the generated size in the requested output format (<see cref="PartialImageFeed"/> picks them), then one
/// <c>image_generation.completed</c> event per image with the request's <c>usage</c>; edits send <c>image_edit.*</c>.
/// A job that fails once the stream has begun ends it with an <c>error</c> event, <c>{"error": {...}}</c>, which the
/// SDKs raise as an API error. A client that goes away cancels the job, as one that stops waiting for a plain answer does.
/// </summary>
public static partial class OpenAIImageEndpoints
{
    /// <summary>What the answer looks like (<see cref="OutputOf"/>); <paramref name="EventPrefix"/> names the streamed events.</summary>
    private sealed record OpenAIOutput(bool Base64, ImageEncoding Encoding, bool Stream, int PartialImages, string Quality, string EventPrefix);

    /// <summary>An accepted job to stream, with what its events echo and count.</summary>
    private sealed record OpenAIAnswer(Guid Id, OpenAIOutput Output, string Size, int TextTokens, int InputImages);

    /// <summary>OpenAI's answer for the image's background: this server paints every pixel.</summary>
    private const string Opaque = "opaque";

    private static async IAsyncEnumerable<SseItem<object>> StreamAsync(
        HttpContext http, OpenAIImageServices services, OpenAIAnswer answer, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The result has set the event stream's headers when it first asks for an event: send them now, so that the
        // client knows its job is accepted (and a client that leaves is seen) while it is queued, not at the first event.
        await http.Response.Body.FlushAsync(cancellationToken);
        var output = answer.Output;
        var feed = new PartialImageFeed(output.PartialImages);
        var waiting = WaitFeedingAsync(services.Generations, answer.Id, feed, cancellationToken);
        var finished = false;
        try
        {
            var (width, height) = ParseSize(answer.Size) ?? (null, null);
            (int, int)? target = width is { } w && height is { } h ? (w, h) : null;
            await foreach (var (index, preview) in feed.ReadAllAsync(cancellationToken))
            {
                var partial = ImageTranscoder.Encode(preview, output.Encoding, target);
                yield return Item(new OpenAIPartialImageEvent(
                    $"{output.EventPrefix}.partial_image",
                    Convert.ToBase64String(partial),
                    services.Time.GetUtcNow().ToUnixTimeSeconds(),
                    answer.Size,
                    output.Quality,
                    Opaque,
                    output.Encoding.Format,
                    index));
            }

            var snapshot = await waiting;
            finished = true;
            if (FailureOf(snapshot) is { } failure)
            {
                yield return new SseItem<object>(failure, "error");
                yield break;
            }

            List<OpenAIImageData>? data = null;
            OpenAIErrorResponse? fault = null;
            try
            {
                data = await DataOfAsync(http, services, snapshot, output, revised: null, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && ApiFaults.Classify(e) is { } known)
            {
                // The answer has begun: no status or Retry-After header can say it any more, the error event does.
                fault = OpenAIErrorShape.Body(known.StatusCode, known.Message, null, known.Code);
            }

            fault ??= data is null ? OpenAIErrorShape.Body(StatusCodes.Status500InternalServerError, ImageMissing, null, "image_missing") : null;
            if (fault is not null)
            {
                yield return new SseItem<object>(fault, "error");
                yield break;
            }

            var usage = OpenAIImageUsage.Of(answer.TextTokens, answer.InputImages, snapshot.Images.Count);
            foreach (var image in data!)
            {
                yield return Item(new OpenAIImageCompletedEvent(
                    $"{output.EventPrefix}.completed",
                    image.B64Json!,
                    services.Time.GetUtcNow().ToUnixTimeSeconds(),
                    answer.Size,
                    output.Quality,
                    Opaque,
                    output.Encoding.Format,
                    usage));
            }
        }
        finally
        {
            if (!finished)
            {
                await CancelAbandonedAsync(services.Generations, answer.Id);
            }
        }
    }

    private static SseItem<object> Item(OpenAIPartialImageEvent partial) => new(partial, partial.Type);

    private static SseItem<object> Item(OpenAIImageCompletedEvent completed) => new(completed, completed.Type);

    /// <summary>Waits for the job, offering each of its events to the feed, and ends the feed when the job ends.</summary>
    private static async Task<JobSnapshot> WaitFeedingAsync(GenerationService generations, Guid id, PartialImageFeed feed, CancellationToken cancellationToken)
    {
        try
        {
            return await generations.WaitAsync(id, cancellationToken, feed.Offer);
        }
        finally
        {
            feed.Complete();
        }
    }

    /// <summary>Cancels a job whose stream ended before its images were sent: nobody will read them.</summary>
    private static async Task CancelAbandonedAsync(GenerationService generations, Guid id)
    {
        try
        {
            await generations.Job(id).Cancel();
        }
        catch (Exception e) when (ApiFaults.IsTransient(e))
        {
            // The cluster is away: the job runs to its end and its result is cached for whoever asks again.
        }
    }
}
