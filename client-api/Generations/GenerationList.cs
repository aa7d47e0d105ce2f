using System.Buffers.Text;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Jobs;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// <c>GET /v1/generations</c>: the caller's own jobs, newest first, from its key's job index (one row per job), each read
/// from its grain as <c>GET /v1/generations/{id}</c> reads it. One request reads at most <see cref="MaxScan"/> index
/// rows and jobs however many the key has, so a status filter that matches few jobs answers a short page with a cursor
/// to go on rather than searching the whole history. An admin key lists its own jobs like any key (it reads and cancels
/// others' jobs by id).
/// </summary>
public static class GenerationList
{
    public const int DefaultLimit = 20;

    /// <summary>The largest page, and the most index rows and jobs one request reads.</summary>
    public const int MaxScan = 50;

    // Jobs read at once: a page's grain calls overlap without flooding the cluster.
    private const int ReadChunk = 10;

    public static async Task<Results<Ok<GenerationListResponse>, ValidationProblem>> ListAsync(
        string? status,
        int? limit,
        string? cursor,
        GenerationService generations,
        ClaimsPrincipal user,
        HttpContext http)
    {
        var errors = new Dictionary<string, string[]>();
        var statuses = ParseStatuses(status);
        if (statuses is null)
        {
            errors["status"] = ["Must be one or more (comma-separated) of queued, running, succeeded, failed, cancelled."];
        }

        if (limit is < 1 or > MaxScan)
        {
            errors["limit"] = [$"Must be between 1 and {MaxScan}."];
        }

        var after = cursor is null ? null : PositionOf(cursor);
        if (cursor is not null && after is null)
        {
            errors["cursor"] = ["Not a cursor of this listing; pass next_cursor of the previous page as it came."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var apiKey = GenerationEndpoints.ApiKeyOf(user);
        var pageSize = limit ?? DefaultLimit;
        var page = await generations.ListAsync(apiKey, after, statuses!.Count == 0 ? pageSize : MaxScan);
        var found = new List<GenerationResponse>(pageSize);
        string? last = null;
        var rest = false;
        foreach (var chunk in page.Jobs.Chunk(ReadChunk))
        {
            var snapshots = await Task.WhenAll(chunk.Select(entry => generations.Job(entry.Job).GetSnapshot()));
            for (var i = 0; i < chunk.Length; i++)
            {
                if (found.Count == pageSize)
                {
                    rest = true;
                    break;
                }

                last = chunk[i].Position;

                // A row whose job is gone (past its retention period, not yet swept) lists nothing.
                var snapshot = snapshots[i];
                if (snapshot.Status != JobStatus.None && snapshot.ApiKey == apiKey && (statuses.Count == 0 || statuses.Contains(snapshot.Status)))
                {
                    found.Add(GenerationEndpoints.ToResponse(snapshot, http));
                }
            }

            if (rest)
            {
                break;
            }
        }

        var more = rest || page.More;
        return TypedResults.Ok(new GenerationListResponse(found, more, more && last is not null ? CursorOf(last) : null));
    }

    /// <summary>The statuses asked for (empty: all), or null when one is not a status.</summary>
    private static HashSet<JobStatus>? ParseStatuses(string? status)
    {
        var statuses = new HashSet<JobStatus>();
        foreach (var name in (status ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Enum.TryParse<JobStatus>(name, ignoreCase: true, out var parsed) || parsed == JobStatus.None || !name.All(char.IsAsciiLetterLower))
            {
                return null;
            }

            statuses.Add(parsed);
        }

        return statuses;
    }

    // The cursor is the last index position read, base64url: opaque to clients, checked when it comes back.
    private static string CursorOf(string position) => Base64Url.EncodeToString(Encoding.ASCII.GetBytes(position));

    private static string? PositionOf(string cursor)
    {
        try
        {
            var position = Encoding.ASCII.GetString(Base64Url.DecodeFromChars(cursor));
            return IJobIndex.IsPosition(position) ? position : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
