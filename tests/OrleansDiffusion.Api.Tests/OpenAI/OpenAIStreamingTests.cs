using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Api.Tests.OpenAI;

/// <summary>
/// <c>stream: true</c> through the official openai npm SDK (<c>tests/js/openai-images.mjs</c>) against the API on a
/// real port, with a latent preview at every step so that the partial images are there to send.
/// </summary>
public sealed class OpenAIStreamingTests : IDisposable
{
    private readonly KestrelApi _api = KestrelApi.Start(new() { ["Diffusion:PreviewInterval"] = "1" });
    private readonly string _directory = Directory.CreateTempSubdirectory("od-openai-stream-").FullName;

    public void Dispose()
    {
        _api.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Runs the SDK's streaming call and returns every line it printed, with its exit code.</summary>
    private async Task<(List<JsonElement> Lines, int ExitCode)> StreamAsync(string call, object parameters)
    {
        using var node = NodeScript.Start("openai-images.mjs", _api.BaseAddress.ToString(), "unused", call, JsonSerializer.Serialize(parameters));
        var lines = new List<JsonElement>();
        while (await node.ReadLineAsync() is { } line)
        {
            lines.Add(JsonDocument.Parse(line).RootElement.Clone());
        }

        return (lines, await node.WaitForExitAsync());
    }

    private static string Type(JsonElement line) => line.GetProperty("type").GetString()!;

    [Fact]
    public async Task The_openai_SDK_streams_up_to_three_partial_images_then_the_image_in_the_format_asked()
    {
        var (lines, exitCode) = await StreamAsync("generate", new
        {
            model = "gpt-image-1", prompt = $"a fox in the snow {Guid.NewGuid():N}", size = "256x256", partial_images = 3,
            output_format = "jpeg", output_compression = 80, quality = "low", steps = 8,
        });

        // The last step always has a preview, so at least one partial image comes; a tiny model's steps can be faster
        // than the progress reports, which then coalesce and carry fewer previews (PartialImageFeedTests has the spread).
        Assert.True(exitCode == 0, string.Join('\n', lines));
        var partials = lines.TakeWhile(l => Type(l) == "image_generation.partial_image").ToList();
        Assert.InRange(partials.Count, 1, 3);
        Assert.Equal(Enumerable.Range(0, partials.Count), partials.Select(l => l.GetProperty("partial_image_index").GetInt32()));
        Assert.Equal("image_generation.completed", Type(Assert.Single(lines.Skip(partials.Count))));
        foreach (var line in lines)
        {
            Assert.Equal(new EncodedImage("image/jpeg", 256, 256), EncodedImage.OfBase64(line.GetProperty("b64_json").GetString()));
            Assert.Equal("256x256", line.GetProperty("size").GetString());
            Assert.Equal("jpeg", line.GetProperty("output_format").GetString());
            Assert.Equal("low", line.GetProperty("quality").GetString());
            Assert.Equal("opaque", line.GetProperty("background").GetString());
            Assert.True(DateTimeOffset.FromUnixTimeSeconds(line.GetProperty("created_at").GetInt64()) > DateTimeOffset.UtcNow.AddMinutes(-5));
        }

        var usage = lines[^1].GetProperty("usage");
        Assert.True(usage.GetProperty("input_tokens_details").GetProperty("text_tokens").GetInt32() > 0);
        Assert.Equal(1, usage.GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task Without_partial_images_the_stream_sends_each_image_once()
    {
        var (lines, exitCode) = await StreamAsync("generate", new { prompt = $"a harbour {Guid.NewGuid():N}", size = "64x64", n = 2, steps = 4 });

        Assert.True(exitCode == 0, string.Join('\n', lines));
        Assert.Equal(["image_generation.completed", "image_generation.completed"], lines.Select(Type));
        Assert.All(lines, l => Assert.Equal(new EncodedImage("image/png", 64, 64), EncodedImage.OfBase64(l.GetProperty("b64_json").GetString())));
        Assert.All(lines, l => Assert.Equal(2, l.GetProperty("usage").GetProperty("output_tokens").GetInt32()));
        Assert.NotEqual(lines[0].GetProperty("b64_json").GetString(), lines[1].GetProperty("b64_json").GetString());
    }

    [Fact]
    public async Task The_openai_SDK_streams_an_edit_as_image_edit_events()
    {
        var image = Path.Combine(_directory, "picture.png");
        await File.WriteAllBytesAsync(image, Inpainting.MaskImages.Picture(), Ct);

        var (lines, exitCode) = await StreamAsync("edit", new
        {
            image, prompt = $"a red fox {Guid.NewGuid():N}", partial_images = 1, output_format = "webp", steps = 4,
        });

        Assert.True(exitCode == 0, string.Join('\n', lines));
        Assert.Equal(["image_edit.partial_image", "image_edit.completed"], lines.Select(Type));
        Assert.All(lines, l => Assert.Equal(new EncodedImage("image/webp", 64, 64), EncodedImage.OfBase64(l.GetProperty("b64_json").GetString())));
        var usage = lines[^1].GetProperty("usage");
        Assert.Equal(1, usage.GetProperty("input_tokens_details").GetProperty("image_tokens").GetInt32());
        Assert.Equal(1, usage.GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public async Task A_bad_partial_images_is_the_SDKs_400_error_before_any_event()
    {
        var (lines, exitCode) = await StreamAsync("generate", new { prompt = "a fox", size = "64x64", partial_images = 4 });

        Assert.Equal(1, exitCode);
        var error = Assert.Single(lines).GetProperty("error");
        Assert.Equal("BadRequestError", error.GetProperty("name").GetString());
        Assert.Equal(400, error.GetProperty("status").GetInt32());
        Assert.Equal("partial_images", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task The_stream_is_server_sent_events_named_by_their_type()
    {
        using var http = _api.CreateClient();

        var response = await http.PostAsJsonAsync(
            "/v1/images/generations",
            new { prompt = $"a kite {Guid.NewGuid():N}", size = "64x64", steps = 4, stream = true, partial_images = 1 },
            Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = (await response.Content.ReadAsStringAsync(Ct))
            .Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(block => block.Split('\n').ToDictionary(l => l[..l.IndexOf(':', StringComparison.Ordinal)], l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()))
            .ToList();
        Assert.Equal(["image_generation.partial_image", "image_generation.completed"], events.Select(e => e["event"]));
        Assert.All(events, e => Assert.Equal(e["event"], JsonDocument.Parse(e["data"]).RootElement.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task A_client_that_leaves_the_stream_cancels_its_job()
    {
        // A run of a minute or so on the demo model; the client leaves once the answer has begun, closing its connection
        // at once (no draining of the rest of the response).
        using var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = _api.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/images/generations")
        {
            Content = JsonContent.Create(new { prompt = $"a long walk {Guid.NewGuid():N}", size = "1024x1024", n = 4, steps = 150, stream = true }),
        };

        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        }

        // The only job of this API: found through the management grain, as no answer named it.
        var grains = _api.Factory.Services.GetRequiredService<IGrainFactory>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        JobSnapshot? job = null;
        while (DateTimeOffset.UtcNow < deadline && job?.Status != JobStatus.Cancelled)
        {
            await Task.Delay(200, Ct);
            var statistics = await grains.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics(null, null, Ct);
            var id = Assert.Single(statistics, s => s.GrainType.Contains("GenerationJobGrain", StringComparison.Ordinal)).GrainId.GetGuidKey();
            job = await grains.GetGrain<IGenerationJobGrain>(id).GetSnapshot();
        }

        Assert.Equal(JobStatus.Cancelled, job?.Status);
        Assert.Empty(job!.Images);
    }
}
