using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Imaging;
using OrleansDiffusion.Api.Security;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Grains.Jobs;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.Generations;

/// <summary>The native asynchronous job API under <c>/v1/generations</c>.</summary>
public static class GenerationEndpoints
{
    public static IEndpointRouteBuilder MapGenerationApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/generations")
            .WithTags("Generations")
            .RequireAuthorization()
            .RequireRateLimiting(ApiHostingExtensions.PerKeyReadPolicy);

        // Submitting spends the submit budget (the endpoint's policy overrides the group's); polling a job, fetching its
        // images or cancelling it spends the read budget.
        // A job is addressed by the id the API gave it, or by the name its key gave it (Idempotency-Key, PUT).
        group.MapPost("/", CreateAsync).WithName("CreateGeneration").RequireRateLimiting(ApiHostingExtensions.PerKeyPolicy);
        group.MapPut("/{id}", PutAsync).WithName("PutGeneration").RequireRateLimiting(ApiHostingExtensions.PerKeyPolicy);
        group.MapGet("/", GenerationList.ListAsync).WithName("ListGenerations");
        group.MapGet("/{id}", GetAsync).WithName("GetGeneration");
        group.MapDelete("/{id}", CancelAsync).WithName("CancelGeneration");
        group.MapGet("/{id}/images/{index:int}", GetImageAsync).WithName("GetGenerationImage");
        group.MapGet("/{id}/events", GenerationEventStream.StreamAsync).WithName("GenerationEvents");
        return app;
    }

    /// <summary>The header that makes a submission idempotent: its value names the job (see <see cref="ClientJobId"/>).</summary>
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>
    /// Submits a job; with an <c>Idempotency-Key</c> the key names it, so a retry with the same body returns the same job
    /// (and another body is a 422). With <c>Prefer: wait=N</c> it answers 200 with the finished job if it ends in time.
    /// </summary>
    public static Task<Results<Ok<GenerationResponse>, Accepted<GenerationResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        [FromBody] CreateGenerationRequest request,
        [FromHeader(Name = IdempotencyKeyHeader)] string? idempotencyKey,
        GenerationService generations,
        WebhookRequests webhooks,
        ClaimsPrincipal user,
        HttpContext http,
        CancellationToken cancellationToken)
    {
        if (idempotencyKey is not null && !ClientJobId.IsValid(idempotencyKey))
        {
            return Task.FromResult<Results<Ok<GenerationResponse>, Accepted<GenerationResponse>, ValidationProblem, ProblemHttpResult>>(
                TypedResults.ValidationProblem(new Dictionary<string, string[]> { [IdempotencyKeyHeader] = [$"Must be {ClientJobId.Rule}."] }));
        }

        return SubmitAsync(request, idempotencyKey, generations, webhooks, user, http, cancellationToken);
    }

    /// <summary>
    /// Cog's <c>PUT /predictions/{id}</c>: submits a job under a name the client chose (for its key only), or returns the
    /// job already submitted under it with the same body.
    /// </summary>
    public static Task<Results<Ok<GenerationResponse>, Accepted<GenerationResponse>, ValidationProblem, ProblemHttpResult>> PutAsync(
        string id,
        [FromBody] CreateGenerationRequest request,
        GenerationService generations,
        WebhookRequests webhooks,
        ClaimsPrincipal user,
        HttpContext http,
        CancellationToken cancellationToken)
    {
        if (!ClientJobId.IsValid(id) || Guid.TryParse(id, out _))
        {
            // A UUID in a job's address is always a job id this API made, so it cannot be a client's name as well.
            return Task.FromResult<Results<Ok<GenerationResponse>, Accepted<GenerationResponse>, ValidationProblem, ProblemHttpResult>>(
                TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["id"] = [$"Must be {ClientJobId.Rule}, and not a UUID (the shape of the API's own job ids)."] }));
        }

        return SubmitAsync(request, id, generations, webhooks, user, http, cancellationToken);
    }

    private static async Task<Results<Ok<GenerationResponse>, Accepted<GenerationResponse>, ValidationProblem, ProblemHttpResult>> SubmitAsync(
        CreateGenerationRequest request,
        string? name,
        GenerationService generations,
        WebhookRequests webhooks,
        ClaimsPrincipal user,
        HttpContext http,
        CancellationToken cancellationToken)
    {
        var errors = GenerationRequestValidator.Validate(request);
        if (!PreferWait.TryParse(http.Request.Headers[PreferWait.PreferHeader], out var wait))
        {
            errors[PreferWait.PreferHeader] = [$"wait must be a whole number of seconds (at most {PreferWait.MaxSeconds} are waited)."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var apiKey = ApiKeyOf(user);
        var (webhook, webhookErrors) = await webhooks.ReadAsync(request, apiKey, BaseUrl(http), cancellationToken);
        if (webhookErrors.Count > 0)
        {
            return TypedResults.ValidationProblem(webhookErrors);
        }

        var id = name is null ? await generations.NewIdAsync() : await generations.ClientJobIdAsync(apiKey, name);
        if (name is not null)
        {
            request = ClientJobId.WithStableSeed(request, id);
        }

        JobSnapshot snapshot;
        try
        {
            snapshot = name is null
                ? await generations.SubmitAsync(id, request, apiKey, webhook, cancellationToken)
                : await generations.SubmitNamedAsync(id, request, apiKey, webhook, cancellationToken);
        }
        catch (Exception e) when (ProblemFor(e, http) is { } problem)
        {
            return problem;
        }

        if (wait is { } seconds)
        {
            http.Response.Headers[PreferWait.AppliedHeader] = $"wait={seconds}";
            snapshot = await WaitAtMostAsync(generations, snapshot, TimeSpan.FromSeconds(seconds), cancellationToken);
            if (snapshot.IsTerminal)
            {
                return TypedResults.Ok(ToResponse(snapshot, http));
            }
        }

        return TypedResults.Accepted($"/v1/generations/{id}", ToResponse(snapshot, http));
    }

    /// <summary>
    /// The job once it finishes, or as it stands after <paramref name="limit"/>: the wait follows the job's inference
    /// (<see cref="GenerationService.WaitAsync"/>), it does not poll.
    /// </summary>
    private static async Task<JobSnapshot> WaitAtMostAsync(GenerationService generations, JobSnapshot snapshot, TimeSpan limit, CancellationToken cancellationToken)
    {
        if (snapshot.IsTerminal || limit <= TimeSpan.Zero)
        {
            return snapshot;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        try
        {
            return await generations.WaitAsync(snapshot.Id, deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Not finished in time: 202 with the job as it stands now (one read; a fault then leaves the submit's view).
            try
            {
                return await generations.Job(snapshot.Id).GetSnapshot();
            }
            catch (Exception e) when (ApiFaults.IsTransient(e))
            {
                return snapshot;
            }
        }
    }

    public static async Task<Results<Ok<GenerationResponse>, NotFound>> GetAsync(string id, GenerationService generations, ClaimsPrincipal user, HttpContext http)
    {
        if (await generations.ResolveAsync(id, ApiKeyOf(user)) is not { } job)
        {
            return TypedResults.NotFound();
        }

        var snapshot = await generations.Job(job).GetSnapshot();
        return IsVisibleTo(snapshot, user) ? TypedResults.Ok(ToResponse(snapshot, http)) : TypedResults.NotFound();
    }

    public static async Task<Results<Ok<GenerationResponse>, NotFound>> CancelAsync(string id, GenerationService generations, ClaimsPrincipal user, HttpContext http)
    {
        if (await generations.ResolveAsync(id, ApiKeyOf(user)) is not { } jobId)
        {
            return TypedResults.NotFound();
        }

        var job = generations.Job(jobId);
        if (!IsVisibleTo(await job.GetSnapshot(), user))
        {
            return TypedResults.NotFound();
        }

        return TypedResults.Ok(ToResponse(await job.Cancel(), http));
    }

    /// <summary>
    /// One image of a job: the stored PNG (a redirect to storage where it issues read URLs), or, with <c>format</c>
    /// <c>jpeg</c> or <c>webp</c> and an optional <c>quality</c> (0-100, default 100), that image converted by the API
    /// (<see cref="ImageTranscoder"/>), which is what the OpenAI answers' URLs name.
    /// </summary>
    public static async Task<Results<FileContentHttpResult, RedirectHttpResult, NotFound, ProblemHttpResult, ValidationProblem>> GetImageAsync(
        string id,
        int index,
        string? format,
        int? quality,
        GenerationService generations,
        ImageTranscoder transcoder,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        if (ImageEncoding.FormatName(format) is null)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["format"] = [$"'{format}' is not an image format; use {ImageEncoding.Names}."] });
        }

        if (!ImageEncoding.IsQuality(quality))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["quality"] = [$"The quality must be between 0 and {ImageEncoding.MaxQuality}."] });
        }

        if (await generations.ResolveAsync(id, ApiKeyOf(user)) is not { } job)
        {
            return TypedResults.NotFound();
        }

        var snapshot = await generations.Job(job).GetSnapshot();
        if (!IsVisibleTo(snapshot, user) || index < 0 || index >= snapshot.Images.Count)
        {
            return TypedResults.NotFound();
        }

        var image = snapshot.Images[index];
        var encoding = ImageEncoding.Create(format, quality);
        if (encoding.IsPng && await generations.DirectUrlAsync(image, cancellationToken) is { } url)
        {
            return TypedResults.Redirect(url.ToString());
        }

        var bytes = await transcoder.ReadAsync(image, encoding, cancellationToken);
        return bytes is null
            ? TypedResults.Problem(
                $"Image {index} of job {id} is no longer stored (see Diffusion:Retention:Results); submit the same request again to compute it again.",
                statusCode: StatusCodes.Status404NotFound,
                title: "Image gone")
            : TypedResults.File(bytes, encoding.MediaType, $"{job}-{index}.{encoding.Format}");
    }

    /// <summary>
    /// Whether the caller may see the job: it exists, and the caller's key submitted it or is an admin key. Another
    /// key's job is answered exactly as an unknown id, so a job id tells an outsider nothing.
    /// </summary>
    public static bool IsVisibleTo(JobSnapshot snapshot, ClaimsPrincipal user) =>
        snapshot.Status != JobStatus.None && (snapshot.ApiKey == ApiKeyOf(user) || user.IsInRole(ApiKeyAuthenticationHandler.AdminRole));

    /// <summary>The caller's API key name (the quota and fairness key).</summary>
    public static string ApiKeyOf(ClaimsPrincipal user) => user.Identity?.Name ?? ApiKeyAuthenticationHandler.Anonymous;

    public static GenerationResponse ToResponse(JobSnapshot snapshot, HttpContext http) => GenerationResponse.From(snapshot, BaseUrl(http));

    /// <summary>The images of a job with absolute URLs under <paramref name="baseUrl"/> (see <see cref="BaseUrl"/>).</summary>
    public static IReadOnlyList<GeneratedImageDto> ImagesOf(JobSnapshot snapshot, string baseUrl) => GenerationResponse.ImagesOf(snapshot, baseUrl);

    public static string ImageUrl(HttpContext http, Guid id, int index) => GenerationResponse.ImageUrl(BaseUrl(http), id, index);

    /// <summary>The scheme, host and path base the request came in on.</summary>
    public static string BaseUrl(HttpContext http) => $"{http.Request.Scheme}://{http.Request.Host}{http.Request.PathBase}";

    /// <summary>
    /// The answer for what submitting can throw (<see cref="ApiFaults"/>: the client's mistakes, quotas, a full queue, a
    /// transient fault of the cluster or storage), as ProblemDetails; null for anything unexpected (a 500).
    /// </summary>
    public static ProblemHttpResult? ProblemFor(Exception e, HttpContext http) =>
        ApiFaults.Answer(e, http) is { } fault ? TypedResults.Problem(fault.Message, statusCode: fault.StatusCode, title: fault.Title) : null;
}
