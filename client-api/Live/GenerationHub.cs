using Microsoft.AspNetCore.SignalR;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Live;

/// <summary>
/// <c>/hubs/generations</c>: a client calls <c>Subscribe(id)</c> and receives the job's current state at once, then
/// every later event (<c>queued</c>, <c>started</c>, <c>progress</c>, <c>completed</c>, <c>failed</c>, <c>cancelled</c>).
/// Another key's job is an unknown job.
/// </summary>
public sealed class GenerationHub(JobEventRelay relay) : Hub
{
    public const string Path = "/hubs/generations";

    public async Task Subscribe(Guid id)
    {
        var http = Context.GetHttpContext() ?? throw new HubException("The connection has no HTTP context.");
        var user = Context.User ?? new System.Security.Claims.ClaimsPrincipal();
        var snapshot = await relay.SubscribeAsync(Context.ConnectionId, GenerationEndpoints.BaseUrl(http), id, job => GenerationEndpoints.IsVisibleTo(job, user));
        if (snapshot.Status == JobStatus.None)
        {
            throw new HubException($"Unknown generation job {id}.");
        }
    }

    public Task Unsubscribe(Guid id) => relay.UnsubscribeAsync(Context.ConnectionId, id);

    public override Task OnDisconnectedAsync(Exception? exception) => relay.DisconnectAsync(Context.ConnectionId);
}
