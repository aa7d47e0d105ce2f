using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using OrleansDiffusion.Api.Hosting;
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
        group.MapPost("/", CreateAsync).WithName("CreateGeneration").RequireRateLimiting(ApiHostingExtensions.PerKeyPolicy);
        group.MapGet("/{id:guid}", GetAsync).WithName("GetGeneration");
        group.MapDelete("/{id:guid}", CancelAsync).WithName("CancelGeneration");
        group.MapGet("/{id:guid}/images/{index:int}", GetImageAsync).WithName("GetGenerationImage");
        return app;
    }

    public static async Task<Results<Accepted<GenerationResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        [FromBody] CreateGenerationRequest request,
        GenerationService generations,
        WebhookRequests webhooks,
        ClaimsPrincipal user,
        HttpContext http,
        CancellationToken cancellationToken)
    {
        var errors = GenerationRequestValidator.Validate(request);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var (webhook, webhookErrors) = await webhooks.ReadAsync(request, ApiKeyOf(user), BaseUrl(http), cancellationToken);
        if (webhookErrors.Count > 0)
        {
            return TypedResults.ValidationProblem(webhookErrors);
        }

        var id = await generations.NewIdAsync();
        try
        {
            var snapshot = await generations.SubmitAsync(id, request, ApiKeyOf(user), webhook, cancellationToken);
            return TypedResults.Accepted($"/v1/generations/{id}", ToResponse(snapshot, http));
        }
        catch (Exception e) when (ProblemFor(e, http) is { } problem)
        {
            return problem;
        }
    }

    public static async Task<Results<Ok<GenerationResponse>, NotFound>> GetAsync(Guid id, GenerationService generations, ClaimsPrincipal user, HttpContext http)
    {
        if (!await generations.IsGenuineAsync(id))
        {
            return TypedResults.NotFound();
        }

        var snapshot = await generations.Job(id).GetSnapshot();
        return IsVisibleTo(snapshot, user) ? TypedResults.Ok(ToResponse(snapshot, http)) : TypedResults.NotFound();
    }

    public static async Task<Results<Ok<GenerationResponse>, NotFound>> CancelAsync(Guid id, GenerationService generations, ClaimsPrincipal user, HttpContext http)
    {
        if (!await generations.IsGenuineAsync(id))
        {
            return TypedResults.NotFound();
        }

        var job = generations.Job(id);
        if (!IsVisibleTo(await job.GetSnapshot(), user))
        {
            return TypedResults.NotFound();
        }

        return TypedResults.Ok(ToResponse(await job.Cancel(), http));
    }

    public static async Task<Results<FileContentHttpResult, RedirectHttpResult, NotFound, ProblemHttpResult>> GetImageAsync(
        Guid id,
        int index,
        GenerationService generations,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        if (!await generations.IsGenuineAsync(id))
        {
            return TypedResults.NotFound();
        }

        var snapshot = await generations.Job(id).GetSnapshot();
        if (!IsVisibleTo(snapshot, user) || index < 0 || index >= snapshot.Images.Count)
        {
            return TypedResults.NotFound();
        }

        var image = snapshot.Images[index];
        if (await generations.DirectUrlAsync(image, cancellationToken) is { } url)
        {
            return TypedResults.Redirect(url.ToString());
        }

        var bytes = await generations.ReadImageAsync(image, cancellationToken);
        return bytes is null
            ? TypedResults.Problem(
                $"Image {index} of job {id} is no longer stored (see Diffusion:Retention:Results); submit the same request again to compute it again.",
                statusCode: StatusCodes.Status404NotFound,
                title: "Image gone")
            : TypedResults.File(bytes, "image/png", $"{id}-{index}.png");
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
