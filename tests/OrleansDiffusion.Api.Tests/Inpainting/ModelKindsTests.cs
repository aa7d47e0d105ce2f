using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrleansDiffusion.DemoModel;

namespace OrleansDiffusion.Api.Tests.Inpainting;

/// <summary>
/// A cluster serving a plain, an LCM and an inpainting export (generated): <c>GET /v1/models</c> says what each
/// supports, an LCM model runs with the LCM scheduler by default, and the inpainting model inpaints through the API.
/// </summary>
public sealed class ModelKindsTests : IDisposable
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "od-api-models-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly ApiFactory _factory;

    public ModelKindsTests()
    {
        DemoModelWriter.Write(Path.Combine(_models, "plain"));
        DemoModelWriter.Write(Path.Combine(_models, "lcm"), new DemoModelOptions { GuidanceEmbeddingSize = DemoModelOptions.LcmGuidanceEmbeddingSize });
        DemoModelWriter.Write(Path.Combine(_models, "inpainting"), new DemoModelOptions { Inpainting = true });
        DemoModelWriter.Write(Path.Combine(_models, "txt2img-only"));
        Directory.Delete(Path.Combine(_models, "txt2img-only", "vae_encoder"), recursive: true);
        var settings = new Dictionary<string, string>();
        var ids = new[] { "plain", "lcm", "inpainting", "txt2img-only" };
        for (var i = 0; i < ids.Length; i++)
        {
            settings[$"Diffusion:Models:{i}:Id"] = ids[i];
            settings[$"Diffusion:Models:{i}:Path"] = Path.Combine(_models, ids[i]);
        }

        _factory = new ApiFactory(settings);
    }

    public void Dispose()
    {
        _factory.Dispose();
        Directory.Delete(_models, recursive: true);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Models_report_img2img_inpainting_and_lcm_next_to_their_default_scheduler()
    {
        using var http = _factory.CreateClient();

        var models = (await http.GetFromJsonAsync<JsonElement>("/v1/models", Ct)).GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);

        void AssertSupports(string id, bool img2img, bool inpaintingUnet, bool lcm, string scheduler)
        {
            var model = models[id];
            var supports = model.GetProperty("supports");
            Assert.Equal(img2img, supports.GetProperty("img2img").GetBoolean());
            Assert.Equal(img2img, supports.GetProperty("inpainting").GetBoolean());
            Assert.Equal(inpaintingUnet, supports.GetProperty("inpainting_unet").GetBoolean());
            Assert.Equal(lcm, supports.GetProperty("lcm").GetBoolean());

            // An LCM UNet takes the guidance as an embedding and runs no unconditional pass.
            Assert.Equal(!lcm, supports.GetProperty("negative_prompt").GetBoolean());
            Assert.Equal(!lcm, supports.GetProperty("guidance").GetBoolean());
            Assert.Equal(scheduler, model.GetProperty("default_scheduler").GetString());
            Assert.True(model.GetProperty("demo").GetBoolean());
        }

        AssertSupports("plain", img2img: true, inpaintingUnet: false, lcm: false, "pndm");
        AssertSupports("lcm", img2img: true, inpaintingUnet: false, lcm: true, "lcm");
        AssertSupports("inpainting", img2img: true, inpaintingUnet: true, lcm: false, "pndm");
        AssertSupports("txt2img-only", img2img: false, inpaintingUnet: false, lcm: false, "pndm");
    }

    [Fact]
    public async Task An_lcm_model_runs_with_the_lcm_scheduler_without_being_asked()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/sdapi/v1/txt2img", JsonContent.Create(new { prompt = "a lighthouse", steps = 4, cfg_scale = 8.5, width = 64, height = 64, override_settings = new { sd_model_checkpoint = "lcm" } }), Ct);
        var native = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt = "a lighthouse", steps = 4, width = 64, height = 64, model = "lcm" }), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var info = JsonDocument.Parse((await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("info").GetString()!).RootElement;
        Assert.Equal("lcm", info.GetProperty("sd_model_name").GetString());
        Assert.Equal(HttpStatusCode.Accepted, native.StatusCode);
        var job = await WaitAsync(http, native.Headers.Location!.ToString());
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        var png = await http.GetByteArrayAsync(job.GetProperty("images")[0].GetProperty("url").GetString(), Ct);
        Assert.Contains("Sampler: LCM", Engine.Imaging.PngEncoder.ReadParameters(png), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_inpainting_model_inpaints_through_the_api()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", JsonContent.Create(new
        {
            prompt = "a fox",
            model = "inpainting",
            init_image = MaskImages.DataUrl(MaskImages.Picture()),
            mask = Convert.ToBase64String(MaskImages.WhiteMask(MaskImages.InSquare)),
            mask_blur = 0,
            strength = 1.0,
            steps = 4,
            width = 64,
            height = 64,
        }), Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitAsync(http, response.Headers.Location!.ToString());
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        var changed = MaskImages.Changed(MaskImages.Picture(), await http.GetByteArrayAsync(job.GetProperty("images")[0].GetProperty("url").GetString(), Ct));
        Assert.NotEmpty(changed);
        Assert.All(changed, p => Assert.True(MaskImages.InSquare(p.X, p.Y)));
    }

    [Fact]
    public async Task A_model_without_a_vae_encoder_refuses_a_mask_at_submission()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", JsonContent.Create(new
        {
            prompt = "a fox",
            model = "txt2img-only",
            init_image = MaskImages.DataUrl(MaskImages.Picture()),
            mask = Convert.ToBase64String(MaskImages.WhiteMask(MaskImages.InSquare)),
            width = 64,
            height = 64,
        }), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Contains("vae_encoder", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static async Task<JsonElement> WaitAsync(HttpClient http, string location)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
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
}
