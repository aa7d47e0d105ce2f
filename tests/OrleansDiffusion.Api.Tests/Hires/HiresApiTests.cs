using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OrleansDiffusion.Engine.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Api.Tests.Hires;

/// <summary>The hires fix over HTTP on the native and AUTOMATIC1111 APIs, end to end on the demo model.</summary>
public sealed class HiresApiTests : IDisposable
{
    private readonly ApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> WaitAsync(HttpClient http, string location)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            var job = await http.GetFromJsonAsync<JsonElement>(location, Ct);
            if (job.GetProperty("status").GetString() is "succeeded" or "failed" or "cancelled" || DateTime.UtcNow > deadline)
            {
                return job;
            }

            await Task.Delay(50, Ct);
        }
    }

    private static (int Width, int Height) SizeOf(byte[] png)
    {
        var info = Image.Identify(png);
        return (info.Width, info.Height);
    }

    private bool StoredAnything() =>
        Directory.Exists(_factory.ImagesDirectory) && Directory.EnumerateFiles(_factory.ImagesDirectory, "*", SearchOption.AllDirectories).Any();

    [Fact]
    public async Task A_native_hires_job_is_the_hires_size_counts_both_passes_and_is_its_own_cache_entry()
    {
        using var http = _factory.CreateClient();
        const string plain = """{"prompt":"a red fox","steps":4,"width":64,"height":64,"seed":7,"scheduler":"euler"}""";
        const string hires = """{"prompt":"a red fox","steps":4,"width":64,"height":64,"seed":7,"scheduler":"euler","hires":{"scale":2,"steps":3,"denoising_strength":0.5,"upscaler":"Latent (nearest)"}}""";

        var response = await http.PostAsync("/v1/generations", Json(hires), Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitAsync(http, response.Headers.Location!.ToString());
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        Assert.Equal(7, job.GetProperty("progress").GetProperty("steps").GetInt32()); // 4 + 3
        Assert.Equal(7, job.GetProperty("progress").GetProperty("step").GetInt32());
        var image = Assert.Single(job.GetProperty("images").EnumerateArray());
        Assert.Equal((128, 128), (image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32()));
        var png = await http.GetByteArrayAsync(image.GetProperty("url").GetString(), Ct);
        Assert.Equal((128, 128), SizeOf(png));
        var parameters = PngEncoder.ReadParameters(png);
        Assert.Contains("Size: 64x64, ", parameters, StringComparison.Ordinal);
        Assert.EndsWith(", Denoising strength: 0.5, Hires upscale: 2, Hires steps: 3, Hires upscaler: Latent (nearest)", parameters, StringComparison.Ordinal);

        var plainAnswer = await (await http.PostAsync("/v1/generations", Json(plain), Ct)).Content.ReadFromJsonAsync<JsonElement>(Ct);
        var hiresAgain = await (await http.PostAsync("/v1/generations", Json(hires), Ct)).Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.False(plainAnswer.GetProperty("cached").GetBoolean(), "a plain request is not the hires one");
        Assert.True(hiresAgain.GetProperty("cached").GetBoolean());
    }

    public static TheoryData<string, string, string> NativeRefusals() => new()
    {
        { """{"prompt":"x","hires":{"upscaler":"R-ESRGAN 4x+"}}""", "hires.upscaler", "Latent (nearest)" },
        { """{"prompt":"x","hires":{"upscaler":"Latent (antialiased)"}}""", "hires.upscaler", "Latent (bicubic)" },
        { """{"prompt":"x","hires":{"scale":8}}""", "hires.scale", "between 1 and 4" },
        { """{"prompt":"x","hires":{"steps":-1}}""", "hires.steps", "between 0" },
        { """{"prompt":"x","hires":{"denoising_strength":0}}""", "hires.denoising_strength", "greater than 0" },
        { """{"prompt":"x","hires":{"resize_width":4000}}""", "hires.resize_width", "between 64 and 2048" },
        { """{"prompt":"x","init_image":"iVBORw0KGgo=","hires":{}}""", "hires", "init_image" },
    };

    [Theory]
    [MemberData(nameof(NativeRefusals))]
    public async Task Bad_hires_fields_are_400_problems_naming_the_field_and_change_nothing(string body, string field, string says)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", Json(body), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var message = problem.GetProperty("errors").GetProperty(field)[0].GetString()!;
        Assert.Contains(says, message, StringComparison.Ordinal);
        Assert.False(StoredAnything());
    }

    [Fact]
    public async Task A_hires_size_the_model_cannot_generate_is_a_400_from_the_cluster()
    {
        using var http = _factory.CreateClient();

        // 512 x 512 (the demo model's own size) x 4 is 2048 x 2048: more pixels than any model may generate.
        var response = await http.PostAsync("/v1/generations", Json("""{"prompt":"x","steps":2,"hires":{"scale":4}}"""), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("2048x2048", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(StoredAnything());
    }

    [Fact]
    public async Task The_quota_counts_the_second_pass_at_its_size()
    {
        // Nothing runs (capacity 0), 100 units a key. 512 x 512 at 20 steps is 20 units; a 2x second pass of 30 steps at
        // 1024 x 1024 adds 120: 140 can never run. Without hires steps (20 at 1024 x 1024, 80 units) it fits exactly.
        using var factory = new ApiFactory(ApiFactory.WithKeys(new() { ["Diffusion:Capacity"] = "0", ["Diffusion:Api:MaxConcurrentUnitsPerKey"] = "100" }));
        using var alice = factory.CreateClient(ApiFactory.AliceKey);

        var over = await alice.PostAsync("/v1/generations", Json("""{"prompt":"big","steps":20,"width":512,"height":512,"seed":1,"hires":{"scale":2,"steps":30}}"""), Ct);
        var fits = await alice.PostAsync("/v1/generations", Json("""{"prompt":"big","steps":20,"width":512,"height":512,"seed":1,"hires":{"scale":2}}"""), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, over.StatusCode);
        Assert.Contains("costs 140 units", (await over.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, fits.StatusCode);
    }

    [Fact]
    public async Task A1111_txt2img_with_enable_hr_runs_the_second_pass_and_writes_the_hires_infotext()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/sdapi/v1/txt2img", Json("""
            {"prompt":"a lighthouse at dusk","steps":4,"width":64,"height":64,"seed":5,"sampler_name":"Euler","cfg_scale":7,
             "enable_hr":true,"hr_scale":2,"hr_second_pass_steps":3,"denoising_strength":0.5,"hr_upscaler":"Latent"}
            """), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var png = Convert.FromBase64String(Assert.Single(body.GetProperty("images").EnumerateArray()).GetString()!);
        Assert.Equal((128, 128), SizeOf(png));
        var info = JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement;
        Assert.Equal(0.5, info.GetProperty("denoising_strength").GetDouble());
        Assert.Equal(64, info.GetProperty("width").GetInt32()); // A1111 reports the first pass's size
        var infotext = Assert.Single(info.GetProperty("infotexts").EnumerateArray()).GetString()!;
        Assert.Contains("Size: 64x64", infotext, StringComparison.Ordinal);
        Assert.Contains(", Denoising strength: 0.5, Hires upscale: 2, Hires steps: 3, Hires upscaler: Latent, Version: ", infotext, StringComparison.Ordinal);
        Assert.Contains("Hires upscale: 2, Hires steps: 3, Hires upscaler: Latent", PngEncoder.ReadParameters(png), StringComparison.Ordinal);
        Assert.True(body.GetProperty("parameters").GetProperty("enable_hr").GetBoolean());

        var plain = await http.PostAsync("/sdapi/v1/txt2img", Json("""
            {"prompt":"a lighthouse at dusk","steps":4,"width":64,"height":64,"seed":5,"sampler_name":"Euler","cfg_scale":7,
             "enable_hr":false,"hr_scale":2,"hr_second_pass_steps":3,"denoising_strength":0.5,"hr_upscaler":"Latent"}
            """), Ct);
        var plainBody = await plain.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var plainPng = Convert.FromBase64String(Assert.Single(plainBody.GetProperty("images").EnumerateArray()).GetString()!);
        Assert.Equal((64, 64), SizeOf(plainPng));
        Assert.DoesNotContain("Hires", PngEncoder.ReadParameters(plainPng), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A1111_progress_counts_both_passes_and_previews_the_second_at_its_size()
    {
        using var http = _factory.CreateClient();
        using var poller = _factory.CreateClient();
        var running = http.PostAsync("/sdapi/v1/txt2img", Json("""
            {"prompt":"a long one","steps":20,"width":256,"height":256,"seed":5,"sampler_name":"Euler",
             "enable_hr":true,"hr_scale":2,"hr_second_pass_steps":150,"denoising_strength":0.9}
            """), Ct);

        // A preview of the second pass: 512 x 512 pixels are 64 x 64 latents (the first pass's are 32 x 32).
        JsonElement? seen = null;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (seen is null && DateTime.UtcNow < deadline && !running.IsCompleted)
        {
            var progress = await poller.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress", Ct);
            if (progress.GetProperty("state").GetProperty("sampling_step").GetInt32() > 20
                && progress.GetProperty("current_image").GetString() is { } preview
                && Image.Identify(Convert.FromBase64String(preview)).Width == 64)
            {
                seen = progress;
            }
            else
            {
                await Task.Delay(50, Ct);
            }
        }

        Assert.True(seen is not null, "no preview of the second pass while it ran");
        Assert.Equal(170, seen.Value.GetProperty("state").GetProperty("sampling_steps").GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await poller.PostAsync("/sdapi/v1/interrupt", null, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
    }

    [Fact]
    public async Task A1111_hr_resize_covers_both_sides_and_crops_the_excess()
    {
        using var http = _factory.CreateClient();

        // 64x64 to cover 96x80: enlarged to 96x96, two latent rows cropped.
        var response = await http.PostAsync("/sdapi/v1/txt2img", Json("""
            {"prompt":"a lighthouse","steps":3,"width":64,"height":64,"seed":5,"sampler_name":"Euler","enable_hr":true,"hr_resize_x":96,"hr_resize_y":80,"hr_upscaler":"Latent (bicubic)"}
            """), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var png = Convert.FromBase64String(Assert.Single(body.GetProperty("images").EnumerateArray()).GetString()!);
        Assert.Equal((96, 80), SizeOf(png));
        var infotext = JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement.GetProperty("infotexts")[0].GetString()!;
        Assert.Contains("Denoising strength: 0.75, Hires resize: 96x80, Hires upscaler: Latent (bicubic)", infotext, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"prompt":"x","steps":2,"width":64,"height":64,"enable_hr":true,"hr_upscaler":"R-ESRGAN 4x+"}""", "hr_upscaler: Upscaler 'R-ESRGAN 4x+' is not supported")]
    [InlineData("""{"prompt":"x","steps":2,"width":64,"height":64,"enable_hr":true,"hr_scale":0.5}""", "hr_scale: ")]
    [InlineData("""{"prompt":"x","steps":2,"width":64,"height":64,"enable_hr":true,"hr_second_pass_steps":151}""", "hr_second_pass_steps: ")]
    [InlineData("""{"prompt":"x","steps":2,"width":512,"height":512,"enable_hr":true,"hr_scale":4}""", "2048x2048")]
    public async Task A1111_refuses_bad_hires_fields_with_422_in_its_error_shape(string body, string says)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/sdapi/v1/txt2img", Json(body), Ct);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        foreach (var field in new[] { "error", "detail", "body", "errors" })
        {
            Assert.True(error.TryGetProperty(field, out _), $"the error body has '{field}'");
        }

        Assert.Contains(says, error.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(StoredAnything());
    }

    [Fact]
    public async Task A1111_lists_exactly_the_latent_upscalers_it_runs()
    {
        using var http = _factory.CreateClient();

        var modes = await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/latent-upscale-modes", Ct);

        Assert.Equal(["Latent", "Latent (nearest)", "Latent (nearest-exact)", "Latent (bicubic)"], modes.EnumerateArray().Select(m => m.GetProperty("name").GetString()));
    }
}
