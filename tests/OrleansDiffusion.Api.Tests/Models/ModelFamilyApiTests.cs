using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Imaging;

namespace OrleansDiffusion.Api.Tests.Models;

/// <summary>
/// Three demo models of different families served together: "sdxl" (the default), "turbo" (SDXL-Turbo) and "sd" (SD
/// 1.x). One API process with its co-hosted silo for the class.
/// </summary>
public sealed class ModelFamilyApiFixture : IDisposable
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "od-family-models-" + Guid.NewGuid().ToString("N")[..10]);

    public ModelFamilyApiFixture()
    {
        DemoModelWriter.Write(Path.Combine(_models, "sdxl"), new DemoModelOptions { Family = DemoModelFamily.StableDiffusionXL });
        DemoModelWriter.Write(Path.Combine(_models, "turbo"), new DemoModelOptions { Family = DemoModelFamily.StableDiffusionXLTurbo, Flavor = DemoModelFlavor.Olive });
        DemoModelWriter.Write(Path.Combine(_models, "sd"));
        Factory = new ApiFactory(new Dictionary<string, string>
        {
            ["Diffusion:Models:0:Id"] = "sdxl",
            ["Diffusion:Models:0:Path"] = Path.Combine(_models, "sdxl"),
            ["Diffusion:Models:1:Id"] = "turbo",
            ["Diffusion:Models:1:Path"] = Path.Combine(_models, "turbo"),
            ["Diffusion:Models:2:Id"] = "sd",
            ["Diffusion:Models:2:Path"] = Path.Combine(_models, "sd"),
        });
    }

    public ApiFactory Factory { get; }

    public void Dispose()
    {
        Factory.Dispose();
        try
        {
            Directory.Delete(_models, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// What each model is, its defaults and its sizes, through all three APIs: <c>GET /v1/models</c> reports them, a request
/// that gives no size (steps, guidance) gets the model's own, a size the family cannot generate is a 400 in each API's
/// shape, and SDXL's size conditioning is taken natively and as A1111's crop settings.
/// </summary>
public sealed class ModelFamilyApiTests(ModelFamilyApiFixture fixture) : IClassFixture<ModelFamilyApiFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private HttpClient Client() => fixture.Factory.CreateClient();

    private static async Task<JsonElement> WaitAsync(HttpClient http, HttpResponseMessage accepted)
    {
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var location = accepted.Headers.Location!.ToString();
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            var job = await http.GetFromJsonAsync<JsonElement>(location, Ct);
            if (job.GetProperty("status").GetString() is "succeeded" or "failed" or "cancelled" || DateTime.UtcNow > deadline)
            {
                Assert.Equal("succeeded", job.GetProperty("status").GetString());
                return job;
            }

            await Task.Delay(50, Ct);
        }
    }

    private static async Task<string> InfotextAsync(HttpClient http, JsonElement job) =>
        PngEncoder.ReadParameters(await http.GetByteArrayAsync(job.GetProperty("images")[0].GetProperty("url").GetString(), Ct))!;

    [Fact]
    public async Task Models_report_their_family_defaults_sizes_and_what_they_support()
    {
        using var http = Client();

        var models = (await http.GetFromJsonAsync<JsonElement>("/v1/models", Ct)).GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);

        var sdxl = models["sdxl"];
        Assert.True(sdxl.GetProperty("default").GetBoolean());
        Assert.Equal("sdxl", sdxl.GetProperty("family").GetString());
        Assert.Equal("""{"width":1024,"height":1024,"steps":20,"guidance_scale":7.5}""", sdxl.GetProperty("defaults").GetRawText());
        Assert.Equal("""{"multiple":32,"min_side":64,"max_side":2048,"max_pixels":1048576}""", sdxl.GetProperty("sizes").GetRawText());
        Assert.Equal(
            """{"clip_skip":true,"max_clip_skip":2,"negative_prompt":true,"guidance":true,"img2img":true,"inpainting":true,"inpainting_unet":false,"lcm":false,"size_conditioning":true}""",
            sdxl.GetProperty("supports").GetRawText());
        Assert.Equal("euler", sdxl.GetProperty("default_scheduler").GetString());

        var turbo = models["turbo"];
        Assert.Equal("sdxl-turbo", turbo.GetProperty("family").GetString());
        Assert.Equal("""{"width":512,"height":512,"steps":4,"guidance_scale":0}""", turbo.GetProperty("defaults").GetRawText());
        Assert.Equal("euler_a", turbo.GetProperty("default_scheduler").GetString());

        var sd = models["sd"];
        Assert.Equal("sd1", sd.GetProperty("family").GetString());
        Assert.Equal("""{"width":512,"height":512,"steps":20,"guidance_scale":7.5}""", sd.GetProperty("defaults").GetRawText());
        Assert.Equal("""{"multiple":8,"min_side":64,"max_side":1024,"max_pixels":1048576}""", sd.GetProperty("sizes").GetRawText());
        Assert.Equal(
            """{"clip_skip":false,"max_clip_skip":1,"negative_prompt":true,"guidance":true,"img2img":true,"inpainting":true,"inpainting_unet":false,"lcm":false,"size_conditioning":false}""",
            sd.GetProperty("supports").GetRawText());
    }

    [Fact]
    public async Task A_native_request_without_a_size_gets_the_models_own_and_SDXL_Turbo_its_steps_and_guidance()
    {
        using var http = Client();

        var sdxl = await WaitAsync(http, await http.PostAsync("/v1/generations", Json("""{"prompt":"a lighthouse","steps":1,"seed":3}"""), Ct));
        var turbo = await WaitAsync(http, await http.PostAsync("/v1/generations", Json("""{"prompt":"a lighthouse","model":"turbo","seed":3}"""), Ct));

        var image = sdxl.GetProperty("images")[0];
        Assert.Equal((1024, 1024), (image.GetProperty("width").GetInt32(), image.GetProperty("height").GetInt32()));
        Assert.Equal("sdxl", sdxl.GetProperty("model").GetString());
        var turboInfotext = await InfotextAsync(http, turbo);
        Assert.Contains("Steps: 4, Sampler: Euler a, CFG scale: 0, Seed: 3, Size: 512x512", turboInfotext, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sizes_a_family_cannot_generate_are_a_clear_400_in_each_APIs_shape()
    {
        using var http = Client();

        var native = await http.PostAsync("/v1/generations", Json("""{"prompt":"x","width":72,"height":64}"""), Ct);
        var sdTooWide = await http.PostAsync("/v1/generations", Json("""{"prompt":"x","model":"sd","width":1536,"height":512}"""), Ct);
        var tooMany = await http.PostAsync("/v1/generations", Json("""{"prompt":"x","width":2048,"height":1024}"""), Ct);
        var openAI = await http.PostAsync("/v1/images/generations", Json("""{"prompt":"x","size":"1000x1000"}"""), Ct);
        var a1111 = await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"x","width":1000,"height":1000}"""), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, native.StatusCode);
        Assert.Contains("(sdxl) cannot generate 72x64 has a side that is not a multiple of 32", (await native.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, sdTooWide.StatusCode);
        Assert.Contains("outside 64 to 1024 pixels a side", await sdTooWide.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Contains("1048576 pixels", await tooMany.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, openAI.StatusCode);
        var error = (await openAI.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error");
        Assert.Equal("size", error.GetProperty("param").GetString());
        Assert.Contains("multiple of 32", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, a1111.StatusCode);
        Assert.Contains("multiple of 32", (await a1111.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenAI_without_a_size_or_with_auto_gets_the_models_own_size()
    {
        using var http = Client();

        var absent = await http.PostAsync("/v1/images/generations", Json("""{"prompt":"a lighthouse","model":"turbo","response_format":"b64_json","seed":4}"""), Ct);
        var auto = await http.PostAsync("/v1/images/generations", Json("""{"prompt":"a lighthouse","model":"turbo","size":"auto","response_format":"b64_json","seed":4}"""), Ct);

        foreach (var response in new[] { absent, auto })
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
            Assert.Equal("512x512", body.GetProperty("size").GetString());
            var png = Convert.FromBase64String(body.GetProperty("data")[0].GetProperty("b64_json").GetString()!);
            Assert.Contains("Steps: 4, Sampler: Euler a, CFG scale: 0, Seed: 4, Size: 512x512", PngEncoder.ReadParameters(png), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AUTOMATIC1111_without_a_size_gets_the_models_own_and_takes_SDXLs_crop_settings()
    {
        using var http = Client();

        var plain = await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"a lighthouse","steps":1,"seed":5,"override_settings":{"sd_model_checkpoint":"turbo"}}"""), Ct);
        var cropped = await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"a lighthouse","steps":1,"seed":5,"override_settings":{"sd_model_checkpoint":"turbo","sdxl_crop_top":"64","sdxl_crop_left":0}}"""), Ct);
        var sdCropped = await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"x","steps":1,"override_settings":{"sd_model_checkpoint":"sd","sdxl_crop_left":8}}"""), Ct);
        var sdZeroCrop = await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"x","steps":1,"width":64,"height":64,"override_settings":{"sd_model_checkpoint":"sd","sdxl_crop_top":0}}"""), Ct);
        var badCrop = await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"x","override_settings":{"sdxl_crop_top":1.5}}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        var body = await plain.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal((512, 512), (body.GetProperty("parameters").GetProperty("width").GetInt32(), body.GetProperty("parameters").GetProperty("height").GetInt32()));
        Assert.Equal(HttpStatusCode.OK, cropped.StatusCode);
        var first = Convert.FromBase64String(body.GetProperty("images")[0].GetString()!);
        var second = Convert.FromBase64String((await cropped.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("images")[0].GetString()!);
        Assert.False(first.AsSpan().SequenceEqual(second), "the crop reaches the picture");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, sdCropped.StatusCode);
        Assert.Contains("model 'sd' (sd1) has none", (await sdCropped.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, sdZeroCrop.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badCrop.StatusCode);
        Assert.Contains("sdxl_crop_top must be a whole number", (await badCrop.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Native_size_conditioning_goes_through_the_request_key_with_its_defaults_resolved()
    {
        using var http = Client();
        const string request = """{"prompt":"a red fox","model":"turbo","width":64,"height":64,"seed":11,"steps":1""";

        var absent = await WaitAsync(http, await http.PostAsync("/v1/generations", Json(request + "}"), Ct));
        var explicitDefaults = await WaitAsync(http, await http.PostAsync("/v1/generations", Json(request + ""","original_size":[64,64],"crops_coords_top_left":[0,0],"target_size":[64,64]}"""), Ct));
        var larger = await WaitAsync(http, await http.PostAsync("/v1/generations", Json(request + ""","original_size":[128,64]}"""), Ct));

        Assert.False(absent.GetProperty("cached").GetBoolean());
        Assert.True(explicitDefaults.GetProperty("cached").GetBoolean(), "diffusers' defaults given explicitly are the same request");
        Assert.False(larger.GetProperty("cached").GetBoolean(), "another original size is another request");
    }

    [Fact]
    public async Task Bad_size_conditioning_is_a_400_naming_the_field_and_an_SD_model_refuses_it()
    {
        using var http = Client();

        var shape = await http.PostAsync("/v1/generations", Json("""{"prompt":"x","original_size":[1024]}"""), Ct);
        var negative = await http.PostAsync("/v1/generations", Json("""{"prompt":"x","crops_coords_top_left":[-1,0]}"""), Ct);
        var sd = await http.PostAsync("/v1/generations", Json("""{"prompt":"x","model":"sd","target_size":[512,512]}"""), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, shape.StatusCode);
        Assert.True((await shape.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errors").TryGetProperty("original_size", out _));
        Assert.Equal(HttpStatusCode.BadRequest, negative.StatusCode);
        Assert.True((await negative.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("errors").TryGetProperty("crops_coords_top_left", out _));
        Assert.Equal(HttpStatusCode.BadRequest, sd.StatusCode);
        Assert.Contains("SDXL's size conditioning; model 'sd' (sd1) has none", await sd.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }
}
