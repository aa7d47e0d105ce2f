using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Jobs;

/// <summary>
/// A job as the native API shows it (<c>GET /v1/generations/{id}</c>), and as its webhooks deliver it: the cluster
/// writes webhook payloads itself, so the shape lives beside the job rather than in the API.
/// </summary>
public sealed record GenerationResponse(
    Guid Id,
    string Status,
    int? QueuePosition,
    GenerationProgressDto Progress,
    bool Cached,
    IReadOnlyList<GeneratedImageDto> Images,
    string? Error,
    string? Model,
    long? Seed,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt)
{
    /// <summary>The job with its image URLs under <paramref name="baseUrl"/> (the scheme, host and path base of the API).</summary>
    public static GenerationResponse From(JobSnapshot snapshot, string baseUrl) => new(
        snapshot.Id,
        snapshot.Status.ToString().ToLowerInvariant(),
        snapshot.QueuePosition,
        new GenerationProgressDto(snapshot.Step, snapshot.TotalSteps),
        snapshot.Cached,
        ImagesOf(snapshot, baseUrl),
        snapshot.Error,
        snapshot.Spec?.Model,
        snapshot.Spec?.Seed,
        snapshot.CreatedAt,
        snapshot.StartedAt,
        snapshot.CompletedAt);

    /// <summary>The images of a job with absolute URLs under <paramref name="baseUrl"/>.</summary>
    public static IReadOnlyList<GeneratedImageDto> ImagesOf(JobSnapshot snapshot, string baseUrl) =>
        [.. snapshot.Images.Select((image, index) => new GeneratedImageDto(ImageUrl(baseUrl, snapshot.Id, index), image.Seed, image.Width, image.Height))];

    public static string ImageUrl(string baseUrl, Guid id, int index) => $"{baseUrl}/v1/generations/{id}/images/{index}";
}

public sealed record GenerationProgressDto(int Step, int Steps);

public sealed record GeneratedImageDto(string Url, long Seed, int Width, int Height);
