using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Api.Tests.Automatic1111;

public sealed class Automatic1111ApiTests : IDisposable
{
    private readonly ApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

    private static void AssertPng(string base64, int width, int height)
    {
        Assert.False(base64.StartsWith("data:", StringComparison.Ordinal));
        using var image = Image.Load<Rgb24>(Convert.FromBase64String(base64));
        Assert.Equal((width, height), (image.Width, image.Height));
    }

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string? detail = null)
    {
        Assert.Equal(status, response.StatusCode);
        var error = await ReadAsync(response);
        foreach (var field in new[] { "error", "detail", "body", "errors" })
        {
            Assert.True(error.TryGetProperty(field, out _), $"the error body has '{field}'");
        }

        if (detail is not null)
        {
            Assert.Equal(detail, error.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task Open_WebUIs_txt2img_body_gets_base64_pngs_parameters_and_an_info_string()
    {
        using var http = _factory.CreateClient();

        // What Open WebUI's automatic1111 engine posts (its optional fields filled in).
        var response = await http.PostAsync("/sdapi/v1/txt2img", Json("""
            {"prompt":"a lighthouse at dusk","batch_size":1,"width":64,"height":64,"negative_prompt":"fog","steps":3,"cfg_scale":6.5,"sampler_name":"Euler a","scheduler":"Karras"}
            """), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        AssertPng(Assert.Single(body.GetProperty("images").EnumerateArray()).GetString()!, 64, 64);
        var parameters = body.GetProperty("parameters");
        Assert.Equal("a lighthouse at dusk", parameters.GetProperty("prompt").GetString());
        Assert.Equal(-1, parameters.GetProperty("seed").GetInt64());
        Assert.Equal(3, parameters.GetProperty("steps").GetInt32());
        var info = JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement;
        var seed = info.GetProperty("seed").GetInt64();
        Assert.InRange(seed, 0, uint.MaxValue);
        Assert.Equal([seed], info.GetProperty("all_seeds").EnumerateArray().Select(s => s.GetInt64()));
        Assert.Equal(64, info.GetProperty("width").GetInt32());
        Assert.Equal(64, info.GetProperty("height").GetInt32());
        Assert.Equal("Euler a", info.GetProperty("sampler_name").GetString());
        Assert.Equal(6.5, info.GetProperty("cfg_scale").GetDouble());
        Assert.Equal(3, info.GetProperty("steps").GetInt32());
        var infotext = Assert.Single(info.GetProperty("infotexts").EnumerateArray()).GetString()!;
        Assert.StartsWith("a lighthouse at dusk\nNegative prompt: fog\nSteps: 3, Sampler: Euler a, Schedule type: Karras, CFG scale: 6.5, Seed: " + seed, infotext, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SillyTaverns_txt2img_body_with_its_own_keys_runs_batch_size_times_n_iter_images()
    {
        using var http = _factory.CreateClient();

        // SillyTavern posts its settings plus the server's url and auth inside the body; those must be ignored.
        var response = await http.PostAsync("/sdapi/v1/txt2img", Json("""
            {"url":"http://127.0.0.1:7860","auth":"user:pass","prompt":"portrait of a knight","negative_prompt":"lowres, bad anatomy",
             "sampler_name":"DPM++ 2M","scheduler":"Automatic","steps":3,"cfg_scale":7,"width":64,"height":64,"restore_faces":false,
             "enable_hr":false,"hr_upscaler":"Latent","hr_scale":2.0,"hr_additional_modules":[],"denoising_strength":0.7,"hr_second_pass_steps":0,
             "seed":1234,"batch_size":1,"n_iter":2,"override_settings":{"CLIP_stop_at_last_layers":1},"override_settings_restore_afterwards":true,
             "save_images":true,"send_images":true,"do_not_save_grid":false,"do_not_save_samples":false,"clip_skip":1}
            """), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        var images = body.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(2, images.Count);
        images.ForEach(i => AssertPng(i.GetString()!, 64, 64));
        Assert.False(body.GetProperty("parameters").TryGetProperty("url", out _));
        Assert.False(body.GetProperty("parameters").TryGetProperty("auth", out _));
        var info = JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement;
        Assert.Equal(1234, info.GetProperty("seed").GetInt64());
        Assert.Equal([1234L, 1235L], info.GetProperty("all_seeds").EnumerateArray().Select(s => s.GetInt64()));
        Assert.Equal(2, info.GetProperty("infotexts").GetArrayLength());
    }

    [Fact]
    public async Task Img2img_takes_a_data_url_init_image_and_denoising_strength()
    {
        using var http = _factory.CreateClient();
        using var source = new Image<Rgb24>(64, 64, new Rgb24(30, 120, 200));
        using var buffer = new MemoryStream();
        source.SaveAsPng(buffer);
        var dataUrl = "data:image/png;base64," + Convert.ToBase64String(buffer.ToArray());

        var response = await http.PostAsync("/sdapi/v1/img2img", JsonContent.Create(new
        {
            init_images = new[] { dataUrl },
            prompt = "a stormy sea",
            denoising_strength = 0.5,
            steps = 4,
            width = 64,
            height = 64,
            sampler_name = "DDIM",
            include_init_images = false,
        }), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        AssertPng(Assert.Single(body.GetProperty("images").EnumerateArray()).GetString()!, 64, 64);
        Assert.False(body.GetProperty("parameters").TryGetProperty("init_images", out _));
        var info = JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement;
        Assert.Equal(0.5, info.GetProperty("denoising_strength").GetDouble());
        Assert.Contains("Denoising strength: 0.5", info.GetProperty("infotexts")[0].GetString(), StringComparison.Ordinal);

        var missing = await http.PostAsync("/sdapi/v1/img2img", Json("""{"prompt":"x","steps":2,"width":64,"height":64}"""), Ct);
        await AssertErrorAsync(missing, HttpStatusCode.UnprocessableEntity);
    }

    [Fact]
    public async Task Samplers_schedulers_models_and_options_round_trip()
    {
        using var http = _factory.CreateClient();

        var samplers = await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/samplers", Ct);
        Assert.Equal(
            ["Euler", "Euler a", "LMS", "DPM++ 2M", "DDIM", "PLMS", "LCM"],
            samplers.EnumerateArray().Select(s => s.GetProperty("name").GetString()!));
        Assert.Contains("k_euler_a", samplers[1].GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
        var schedulers = await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/schedulers", Ct);
        Assert.Superset(
            new HashSet<string> { "Automatic", "Uniform", "Karras" },
            schedulers.EnumerateArray().Select(s => s.GetProperty("label").GetString()!).ToHashSet());

        var model = Assert.Single((await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/sd-models", Ct)).EnumerateArray());
        var title = model.GetProperty("title").GetString()!;
        Assert.Equal("demo", model.GetProperty("model_name").GetString());
        Assert.StartsWith("demo [", title, StringComparison.Ordinal);
        Assert.Equal(64, model.GetProperty("sha256").GetString()!.Length);
        Assert.Equal(JsonValueKind.Null, model.GetProperty("config").ValueKind);

        var options = await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct);
        Assert.Equal(title, options.GetProperty("sd_model_checkpoint").GetString());
        var set = await http.PostAsync("/sdapi/v1/options", JsonContent.Create(new Dictionary<string, string> { ["sd_model_checkpoint"] = title }), Ct);
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Equal(title, (await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct)).GetProperty("sd_model_checkpoint").GetString());

        var unknown = await http.PostAsync("/sdapi/v1/options", Json("""{"sd_model_checkpoint":"sdxl_base_1.0.safetensors [31e35c80fc]"}"""), Ct);
        await AssertErrorAsync(unknown, HttpStatusCode.UnprocessableEntity);
        var unknownOverride = await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"x","steps":2,"width":64,"height":64,"override_settings":{"sd_model_checkpoint":"nope"}}"""), Ct);
        await AssertErrorAsync(unknownOverride, HttpStatusCode.UnprocessableEntity);

        foreach (var list in new[] { "/sdapi/v1/upscalers", "/sdapi/v1/sd-vae", "/sdapi/v1/latent-upscale-modes" })
        {
            Assert.Equal(JsonValueKind.Array, (await http.GetFromJsonAsync<JsonElement>(list, Ct)).ValueKind);
        }
    }

    [Fact]
    public async Task Progress_when_idle_is_zero_with_no_jobs()
    {
        using var http = _factory.CreateClient();

        var progress = await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress?skip_current_image=false", Ct);

        Assert.Equal(0, progress.GetProperty("progress").GetDouble());
        Assert.Equal(0, progress.GetProperty("state").GetProperty("job_count").GetInt32());
        Assert.False(progress.GetProperty("state").GetProperty("interrupted").GetBoolean());
        Assert.Equal(JsonValueKind.Null, progress.GetProperty("current_image").ValueKind);
    }

    [Fact]
    public async Task Progress_shows_steps_and_a_preview_of_a_running_job_and_interrupt_cancels_it()
    {
        using var http = _factory.CreateClient();
        using var poller = _factory.CreateClient();
        var running = http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"a long one","steps":150,"width":512,"height":512,"batch_size":2,"seed":5}"""), Ct);

        JsonElement progress = default;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !running.IsCompleted)
        {
            progress = await poller.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress", Ct);
            if (progress.GetProperty("state").GetProperty("sampling_step").GetInt32() > 0 && progress.GetProperty("current_image").ValueKind == JsonValueKind.String)
            {
                break;
            }

            await Task.Delay(50, Ct);
        }

        Assert.False(running.IsCompleted, "the job finished before progress showed it running");
        var state = progress.GetProperty("state");
        Assert.Equal(1, state.GetProperty("job_count").GetInt32());
        Assert.Equal(150, state.GetProperty("sampling_steps").GetInt32());
        Assert.InRange(progress.GetProperty("progress").GetDouble(), 0.001, 1);
        using (var preview = Image.Load<Rgb24>(Convert.FromBase64String(progress.GetProperty("current_image").GetString()!)))
        {
            Assert.True(preview.Width > 0);
        }

        var skipped = await poller.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress?skip_current_image=true", Ct);
        Assert.Equal(JsonValueKind.Null, skipped.GetProperty("current_image").ValueKind);

        var interrupt = await poller.PostAsync("/sdapi/v1/interrupt", null, Ct);
        Assert.Equal(HttpStatusCode.OK, interrupt.StatusCode);
        Assert.Equal("{}", await interrupt.Content.ReadAsStringAsync(Ct));

        var response = await running;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Assert.Empty(body.GetProperty("images").EnumerateArray());
        Assert.True(JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement.GetProperty("interrupted").GetBoolean());
        var idle = await poller.GetFromJsonAsync<JsonElement>("/sdapi/v1/progress", Ct);
        Assert.Equal(0, idle.GetProperty("state").GetProperty("job_count").GetInt32());
    }

    [Fact]
    public async Task Samplers_resolve_by_alias_legacy_karras_name_and_sampler_index()
    {
        using var http = _factory.CreateClient();

        foreach (var (body, sampler, schedule) in new[]
        {
            ("""{"prompt":"x","steps":2,"width":64,"height":64,"sampler_name":"DPM++ 2M Karras"}""", "DPM++ 2M", "Karras"),
            ("""{"prompt":"x","steps":2,"width":64,"height":64,"sampler_index":"k_lms"}""", "LMS", "Automatic"),
            ("""{"prompt":"x","steps":2,"width":64,"height":64}""", "Euler", "Automatic"),
        })
        {
            var response = await http.PostAsync("/sdapi/v1/txt2img", Json(body), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var info = JsonDocument.Parse((await ReadAsync(response)).GetProperty("info").GetString()!).RootElement;
            Assert.Equal(sampler, info.GetProperty("sampler_name").GetString());
            Assert.Equal(schedule, info.GetProperty("scheduler").GetString());
        }
    }

    [Fact]
    public async Task An_unknown_sampler_is_404_Sampler_not_found()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"x","steps":2,"width":64,"height":64,"sampler_name":"Heun++ 9000"}"""), Ct);

        await AssertErrorAsync(response, HttpStatusCode.NotFound, "Sampler not found");
    }

    public static TheoryData<string> BadBodies() => new()
    {
        "{ not json",
        """{"prompt":"x","width":100,"height":64}""",
        """{"prompt":"x","steps":1000}""",
        """{"prompt":"x","batch_size":4,"n_iter":4}""",
        """{"prompt":"x","cfg_scale":"high"}""",
        """{"negative_prompt":"no prompt"}""",
        """{"prompt":"x","sampler_name":"DDIM","scheduler":"Karras"}""",
    };

    [Fact]
    public async Task Img2img_takes_a_png_with_a_128_MB_ztxt_bomb_fast_and_refuses_huge_dimensions_with_413()
    {
        using var http = _factory.CreateClient();
        var hostile = HostilePngs.WithZtxtBomb(HostilePngs.Gradient(64, 64), 128L << 20);
        object Body(byte[] png) => new { init_images = new[] { Convert.ToBase64String(png) }, prompt = "x", steps = 2, width = 64, height = 64, denoising_strength = 0.5 };

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var response = await http.PostAsync("/sdapi/v1/img2img", JsonContent.Create(Body(hostile)), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertPng(Assert.Single((await ReadAsync(response)).GetProperty("images").EnumerateArray()).GetString()!, 64, 64);
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        Assert.True(elapsed < TimeSpan.FromSeconds(20), $"img2img took {elapsed}"); // the text alone took seconds to inflate, twice

        // A header declaring 100000 x 100000: refused before anything is allocated.
        var bomb = HostilePngs.Gradient(64, 64);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bomb.AsSpan(16), 100_000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bomb.AsSpan(20), 100_000);
        var refused = await http.PostAsync("/sdapi/v1/img2img", JsonContent.Create(Body(bomb)), Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
        var error = await ReadAsync(refused);
        Assert.Equal("HTTPException", error.GetProperty("error").GetString());
        Assert.Contains("100000x100000", error.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Invalid_bodies_are_422_in_A1111s_error_shape(string body)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/sdapi/v1/txt2img", Json(body), Ct);

        await AssertErrorAsync(response, HttpStatusCode.UnprocessableEntity);
    }

    [Fact]
    public async Task With_keys_HTTP_Basic_carries_the_key_and_without_it_the_answer_is_401_Basic()
    {
        using var factory = new ApiFactory(ApiFactory.WithKeys());
        using var anonymous = factory.CreateClient();

        var refused = await anonymous.GetAsync("/sdapi/v1/sd-models", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("Basic", refused.Headers.WwwAuthenticate.Single().Scheme);
        await AssertErrorAsync(refused, HttpStatusCode.Unauthorized);

        using var wrong = factory.CreateClient();
        wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("user:wrong")));
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/sdapi/v1/options", Ct)).StatusCode);

        using var alice = factory.CreateClient();
        alice.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:" + ApiFactory.AliceKey)));
        Assert.Equal(HttpStatusCode.OK, (await alice.GetAsync("/sdapi/v1/sd-models", Ct)).StatusCode);
        var generated = await alice.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"with a key","steps":2,"width":64,"height":64}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, generated.StatusCode);
    }
}
