using Microsoft.AspNetCore.SignalR;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Live;

/// <summary>
/// <c>/hubs/generations</c>: a client calls <c>Subscribe(id)</c> and receives the job's current state at once, then
/// every later event (<c>queued</c>, <c>started</c>, <c>progress</c>, <c>completed</c>, <c>failed</c>, <c>cancelled</c>).
/// Another key's job is an unknown job, and so is an id no API process made, which is refused before any grain call.
/// Every call counts against the caller's key's request budget (<see cref="HubRateLimitFilter"/>).
/// </summary>
public sealed class GenerationHub(JobEventRelay relay, GenerationService generations) : Hub
{
    public const string Path = "/hubs/generations";

    public async Task Subscribe(Guid id)
    {
        if (!await generations.IsGenuineAsync(id))
        {
            throw UnknownJob(id);
        }

        var http = Context.GetHttpContext() ?? throw new HubException("The connection has no HTTP context.");
        var user = Context.User ?? new System.Security.Claims.ClaimsPrincipal();
        var snapshot = await relay.SubscribeAsync(Context.ConnectionId, GenerationEndpoints.BaseUrl(http), id, job => GenerationEndpoints.IsVisibleTo(job, user));
        if (snapshot.Status == JobStatus.None)
        {
            throw UnknownJob(id);
        }
    }

    public Task Unsubscribe(Guid id) => relay.UnsubscribeAsync(Context.ConnectionId, id);

    public override Task OnDisconnectedAsync(Exception? exception) => relay.DisconnectAsync(Context.ConnectionId);

    private static HubException UnknownJob(Guid id) => new($"Unknown generation job {id}.");
}
