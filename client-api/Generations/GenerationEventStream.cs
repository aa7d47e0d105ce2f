using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Live;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// <c>GET /v1/generations/{id}/events</c>: a job's events as server-sent events, with the hub's names and payloads
/// (<see cref="LiveEventNames"/>): the current state first, then every change, straight from the job's inference (an
/// observer, as the synchronous endpoints wait; no polling), and the stream ends after the job's last event. Each event's
/// <c>id</c> is its inference event's number, which only grows, so a client that reconnects with <c>Last-Event-ID</c>
/// gets only what it has not seen; the last event's id is <see cref="EndId"/>, and reconnecting after it answers 204 (an
/// <c>EventSource</c> stops there). A comment every <see cref="ApiOptions.EventStreamHeartbeat"/> keeps proxies from
/// closing a quiet stream, and each interval renews the watch and reads the job once (catching up on a lost event, a
/// cancellation). A stream resumed mid-run goes on with <c>progress</c>: the <c>started</c> that a stream sends first
/// when it joins a running job is not sent to a client that was there before.
/// </summary>
public sealed class GenerationEventStream : IResult
{
    /// <summary>The id of a stream's last event (the job ended).</summary>
    public const string EndId = "end";

    public const string LastEventIdHeader = "Last-Event-ID";

    private readonly GenerationService _generations;
    private readonly JobSnapshot _job;
    private readonly long? _after;

    private Stage _stage;
    private int _steps;

    private GenerationEventStream(GenerationService generations, JobSnapshot job, long? after)
    {
        _generations = generations;
        _job = job;
        _after = after;
    }

    private enum Stage
    {
        None,
        Queued,
        Running,
    }

    public static async Task<Results<GenerationEventStream, NoContent, NotFound, ValidationProblem>> StreamAsync(
        string id,
        [FromHeader(Name = LastEventIdHeader)] string? lastEventId,
        GenerationService generations,
        ClaimsPrincipal user)
    {
        long? after = null;
        if (lastEventId is not null && lastEventId != EndId)
        {
            if (!long.TryParse(lastEventId, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seq))
            {
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { [LastEventIdHeader] = ["Must be the id of an event of this stream."] });
            }

            after = seq;
        }

        if (await generations.ResolveAsync(id, GenerationEndpoints.ApiKeyOf(user)) is not { } job)
        {
            return TypedResults.NotFound();
        }

        var snapshot = await generations.Job(job).GetSnapshot();
        if (!GenerationEndpoints.IsVisibleTo(snapshot, user))
        {
            return TypedResults.NotFound();
        }

        return lastEventId == EndId ? TypedResults.NoContent() : new GenerationEventStream(generations, snapshot, after);
    }

    public async Task ExecuteAsync(HttpContext http)
    {
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // nginx: pass each event on at once
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var json = http.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        var writer = new Writer(response, json, GenerationEndpoints.BaseUrl(http));
        var aborted = http.RequestAborted;
        await response.Body.FlushAsync(aborted);

        var events = Channel.CreateUnbounded<InferenceEvent>();
        InferenceWatch? watch = null;
        try
        {
            var job = _job;
            using var heartbeat = new PeriodicTimer(http.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value.EventStreamHeartbeat);
            var tick = heartbeat.WaitForNextTickAsync(aborted).AsTask();
            while (true)
            {
                if (!job.IsTerminal && watch is null && job.RequestKey is { } key)
                {
                    watch = await TryWatchAsync(key, events);
                    job = await _generations.Job(job.Id).GetSnapshot(); // an outcome may have come before the watch
                }

                if (job.IsTerminal)
                {
                    await writer.FinishAsync(job, aborted);
                    return;
                }

                while (events.Reader.TryRead(out var inferenceEvent))
                {
                    if (await ApplyAsync(writer, job, inferenceEvent, aborted))
                    {
                        return;
                    }
                }

                var next = events.Reader.WaitToReadAsync(aborted).AsTask();
                if (await Task.WhenAny(next, tick) == next)
                {
                    await next; // throws once the client has left
                    continue;
                }

                await tick;
                tick = heartbeat.WaitForNextTickAsync(aborted).AsTask();
                await writer.CommentAsync("keep-alive", aborted);
                if (watch is not null)
                {
                    await RenewAsync(watch);
                }

                job = await _generations.Job(job.Id).GetSnapshot();
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client left.
        }
        catch (Exception e) when (ApiFaults.IsTransient(e))
        {
            // The job or its inference is unreachable now: the stream ends, and the client's reconnection resumes it.
        }
        finally
        {
            if (watch is not null)
            {
                await watch.DisposeAsync();
            }
        }
    }

    /// <summary>The watch, or null while the inference's owner cannot be reached (each quiet interval tries again).</summary>
    private async Task<InferenceWatch?> TryWatchAsync(string key, Channel<InferenceEvent> events)
    {
        try
        {
            return await _generations.WatchAsync(key, e => events.Writer.TryWrite(e));
        }
        catch (Exception e) when (ApiFaults.IsTransient(e))
        {
            return null;
        }
    }

    private static async Task RenewAsync(InferenceWatch watch)
    {
        try
        {
            await watch.RenewAsync();
        }
        catch (Exception e) when (ApiFaults.IsTransient(e))
        {
            // Tried again at the next quiet interval; the job's own read follows.
        }
    }

    /// <summary>Writes one inference event as the hub would; true when it ended the job (and the stream).</summary>
    private async Task<bool> ApplyAsync(Writer writer, JobSnapshot job, InferenceEvent e, CancellationToken cancellationToken)
    {
        // An event the client saw before it reconnected is not sent again, but still moves the stage (no second "started").
        var seen = _after is { } after && e.Seq <= after;
        var id = e.Seq.ToString(CultureInfo.InvariantCulture);
        switch (e.Kind)
        {
            case InferenceEventKind.Queued:
                _stage = Stage.Queued;
                if (!seen)
                {
                    await writer.EventAsync(id, LiveEventNames.Queued, new QueuedEvent(job.Id, e.QueuePosition), cancellationToken);
                }

                return false;

            case InferenceEventKind.Started:
            case InferenceEventKind.Progress:
                var steps = e.TotalSteps > 0 ? e.TotalSteps : JobEventRelay.StepsOf(job);
                if (_stage != Stage.Running)
                {
                    // A stream that starts mid-run, or a start that was lost: announce the start first.
                    _stage = Stage.Running;
                    _steps = steps;
                    if (!seen && (e.Kind == InferenceEventKind.Started || _after is null))
                    {
                        await writer.EventAsync(e.Kind == InferenceEventKind.Started ? id : null, LiveEventNames.Started, new StartedEvent(job.Id, steps), cancellationToken);
                    }
                }

                if (e.Kind == InferenceEventKind.Progress && !seen)
                {
                    _steps = steps;
                    var preview = e.Preview is { } jpeg ? JobEventRelay.DataUrlOf(jpeg) : null;
                    await writer.EventAsync(id, LiveEventNames.Progress, new ProgressEvent(job.Id, e.Step, _steps, e.EtaSeconds, preview), cancellationToken);
                }

                return false;

            case InferenceEventKind.Completed:
                await writer.FinishAsync(job with { Status = JobStatus.Succeeded, Images = e.Images, CompletedAt = e.CompletedAt }, cancellationToken);
                return true;

            case InferenceEventKind.Failed:
                await writer.FinishAsync(job with { Status = JobStatus.Failed, Error = e.Error }, cancellationToken);
                return true;

            case InferenceEventKind.Left when e.Job == job.Id:
                await writer.FinishAsync(job with { Status = JobStatus.Cancelled }, cancellationToken);
                return true;

            default:
                return false;
        }
    }

    /// <summary>The text/event-stream framing: an optional id, the event name, one line of JSON, flushed at once.</summary>
    private sealed class Writer(HttpResponse response, JsonSerializerOptions json, string baseUrl)
    {
        public Task EventAsync(string? id, string name, object payload, CancellationToken cancellationToken)
        {
            var text = new StringBuilder();
            if (id is not null)
            {
                text.Append("id: ").Append(id).Append('\n');
            }

            text.Append("event: ").Append(name).Append('\n');
            text.Append("data: ").Append(JsonSerializer.Serialize(payload, payload.GetType(), json)).Append("\n\n");
            return WriteAsync(text.ToString(), cancellationToken);
        }

        public Task FinishAsync(JobSnapshot job, CancellationToken cancellationToken)
        {
            var (name, payload) = JobEventRelay.FinishedEventOf(job, baseUrl);
            return EventAsync(EndId, name, payload, cancellationToken);
        }

        public Task CommentAsync(string comment, CancellationToken cancellationToken) => WriteAsync($": {comment}\n\n", cancellationToken);

        private async Task WriteAsync(string text, CancellationToken cancellationToken)
        {
            await response.WriteAsync(text, cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
        }
    }
}
