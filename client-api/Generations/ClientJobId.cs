using System.Buffers.Binary;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// A job name a client chooses: an <c>Idempotency-Key</c> on <c>POST /v1/generations</c>, or the id of
/// <c>PUT /v1/generations/{id}</c> (one name space per API key: both name the same job). The job's id is derived from it
/// (<see cref="Security.JobIds.ForClientAsync"/>). A name shaped as a UUID dedupes a POST like any other, but cannot
/// address the job (a UUID in an address is always one of the API's own job ids) and is refused as a PUT id.
/// </summary>
public static class ClientJobId
{
    public const int MaxLength = 255;

    /// <summary>What <see cref="IsValid"/> accepts, for error messages.</summary>
    public const string Rule = "1 to 255 characters: letters, digits and . _ : ~ -, starting with a letter or digit";

    /// <summary>Whether <paramref name="name"/> is a valid job name (URL-safe as a path segment and a header).</summary>
    public static bool IsValid(string? name) =>
        name is { Length: > 0 and <= MaxLength }
        && char.IsAsciiLetterOrDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '~' or '-');

    /// <summary>
    /// The request with a seed taken from the job's id when it asks for a random one: a retry of the same request under
    /// the same name is then the same request, down to its seed (a freshly drawn seed would make it another).
    /// </summary>
    public static CreateGenerationRequest WithStableSeed(CreateGenerationRequest request, Guid id)
    {
        if (request.Seed is not (null or -1))
        {
            return request;
        }

        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes);
        return request with { Seed = BinaryPrimitives.ReadUInt32LittleEndian(bytes) };
    }
}
