using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Imaging;

namespace OrleansDiffusion.Api.Tests.Prompts;

/// <summary>
/// AUTOMATIC1111's prompt syntax and CLIP skip through the native and A1111 APIs, on two demo models: "plain" (the
/// default, a text encoder without hidden states) and "clip" (with them, 3 layers).
/// </summary>
public sealed class PromptApiTests : IDisposable
{
    private const string Start = "49406";
    private readonly string _models = Path.Combine(Path.GetTempPath(), "od-prompt-models-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly ApiFactory _factory;

    public PromptApiTests()
    {
        DemoModelWriter.Write(Path.Combine(_models, "plain"));
        DemoModelWriter.Write(Path.Combine(_models, "clip"), new DemoModelOptions { TextEncoderLayers = 3 });
        _factory = new ApiFactory(new Dictionary<string, string>
        {
            ["Diffusion:Models:0:Id"] = "plain",
            ["Diffusion:Models:0:Path"] = Path.Combine(_models, "plain"),
            ["Diffusion:Models:1:Id"] = "clip",
            ["Diffusion:Models:1:Path"] = Path.Combine(_models, "clip"),
        });
    }

    public void Dispose()
    {
        _factory.Dispose();
        try
        {
            Directory.Delete(_models, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response) => await response.Content.ReadFromJsonAsync<JsonElement>(Ct);

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

    [Fact]
    public async Task Tokenize_returns_each_chunks_77_ids_and_weights_as_AUTOMATIC1111_computes_them()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/tokenize", Json("""{"prompt":"a (cat:1.5) [photo]"}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var raw = await response.Content.ReadAsStringAsync(Ct);
        var body = JsonDocument.Parse(raw).RootElement;
        var chunk = Assert.Single(body.GetProperty("chunks").EnumerateArray());
        Assert.Equal(
            [49406, 320, 2368, 1125, .. Enumerable.Repeat(49407, 73)],
            chunk.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()));
        Assert.Equal(
            [1.0, 1.0, 1.5, 1 / 1.1, .. Enumerable.Repeat(1.0, 73)],
            chunk.GetProperty("weights").EnumerateArray().Select(w => w.GetDouble()));
        Assert.Contains("[1,1,1.5,0.9090909090909091,1,", raw, StringComparison.Ordinal); // the doubles as A1111 has them
        Assert.Equal(3, body.GetProperty("token_count").GetInt32());

        // What it returned before is still there: the text as written in one sequence, brackets and all.
        Assert.Equal(77, body.GetProperty("ids").GetArrayLength());
        Assert.Equal(11, body.GetProperty("content_tokens").GetInt32()); // a ( cat : 1 . 5 ) [ photo ]
        Assert.False(body.GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task Tokenize_cuts_a_long_prompt_into_chunks_at_its_commas_and_BREAKs()
    {
        using var http = _factory.CreateClient();
        var prompt = string.Concat(Enumerable.Repeat("cat ", 60)) + ", " + string.Concat(Enumerable.Repeat("dog ", 20)) + "BREAK (boat)";

        var body = await ReadAsync(await http.PostAsync("/v1/tokenize", JsonContent.Create(new { prompt, model = "clip" }), Ct));

        var chunks = body.GetProperty("chunks").EnumerateArray().ToList();
        Assert.Equal(3, chunks.Count);
        Assert.All(chunks, c => Assert.Equal((77, 77), (c.GetProperty("ids").GetArrayLength(), c.GetProperty("weights").GetArrayLength())));
        Assert.Equal(267, chunks[0].GetProperty("ids")[61].GetInt32()); // the comma ends chunk 0 ...
        Assert.Equal(49407, chunks[0].GetProperty("ids")[62].GetInt32());
        Assert.Equal(20, chunks[1].GetProperty("ids").EnumerateArray().Count(i => i.GetInt32() != 49406 && i.GetInt32() != 49407)); // ... the dogs move
        Assert.Equal(1.1, chunks[2].GetProperty("weights")[1].GetDouble());
        Assert.Equal("clip", body.GetProperty("model").GetString());
        Assert.Equal(75 + 75 + 1, body.GetProperty("token_count").GetInt32());
        Assert.Equal(Start, chunks[2].GetProperty("ids")[0].GetRawText());
    }

    [Fact]
    public async Task Tokenize_refuses_a_weight_that_is_not_a_number()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/tokenize", Json("""{"prompt":"a (cat:1.2.3)"}"""), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await ReadAsync(response);
        Assert.Contains("1.2.3", problem.GetProperty("errors").GetProperty("prompt")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Native_clip_skip_runs_on_a_text_encoder_with_hidden_states_and_the_png_says_so()
    {
        using var http = _factory.CreateClient();
        const string prompt = "a (red:1.3) fox, [fog] BREAK a small boat";

        var response = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt, model = "clip", clip_skip = 2, steps = 3, width = 64, height = 64, seed = 5 }), Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitAsync(http, response.Headers.Location!.ToString());
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        var png = await http.GetByteArrayAsync(job.GetProperty("images")[0].GetProperty("url").GetString(), Ct);
        var infotext = PngEncoder.ReadParameters(png)!;
        Assert.StartsWith(prompt + "\n", infotext, StringComparison.Ordinal);
        Assert.EndsWith(", Clip skip: 2", infotext, StringComparison.Ordinal);

        // Another CLIP skip is another request: it is computed, not served from the cache.
        var other = await WaitAsync(http, (await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt, model = "clip", clip_skip = 3, steps = 3, width = 64, height = 64, seed = 5 }), Ct)).Headers.Location!.ToString());
        Assert.False(other.GetProperty("cached").GetBoolean());
        var otherPng = await http.GetByteArrayAsync(other.GetProperty("images")[0].GetProperty("url").GetString(), Ct);
        Assert.EndsWith(", Clip skip: 3", PngEncoder.ReadParameters(otherPng)!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Native_clip_skip_on_a_model_without_hidden_states_is_a_400_that_says_why()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", Json("""{"prompt":"a fox","clip_skip":2,"steps":3,"width":64,"height":64}"""), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var detail = (await ReadAsync(response)).GetProperty("detail").GetString()!;
        Assert.Contains("hidden_states", detail, StringComparison.Ordinal);
        Assert.Contains("'plain'", detail, StringComparison.Ordinal);
        var beyond = await http.PostAsync("/v1/generations", Json("""{"prompt":"a fox","model":"clip","clip_skip":4}"""), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, beyond.StatusCode);
        Assert.Contains("between 1 and 3", (await ReadAsync(beyond)).GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A1111_override_settings_CLIP_stop_at_last_layers_is_the_clip_skip_of_the_request()
    {
        using var http = _factory.CreateClient();
        const string prompt = "a (lighthouse:1.2) at dusk, ((stars))";

        var response = await http.PostAsync("/sdapi/v1/txt2img", JsonContent.Create(new
        {
            prompt,
            steps = 3,
            width = 64,
            height = 64,
            seed = 9,
            override_settings = new Dictionary<string, object> { ["sd_model_checkpoint"] = "clip", ["CLIP_stop_at_last_layers"] = 2 },
        }), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await ReadAsync(response);
        Assert.Equal(prompt, body.GetProperty("parameters").GetProperty("prompt").GetString());
        var info = JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement;
        Assert.Equal(2, info.GetProperty("clip_skip").GetInt32());
        Assert.Equal(prompt, info.GetProperty("prompt").GetString());
        Assert.Contains(", Clip skip: 2", info.GetProperty("infotexts")[0].GetString(), StringComparison.Ordinal);
        var png = Convert.FromBase64String(body.GetProperty("images")[0].GetString()!);
        Assert.EndsWith(", Clip skip: 2", PngEncoder.ReadParameters(png)!, StringComparison.Ordinal);
        Assert.StartsWith(prompt + "\n", PngEncoder.ReadParameters(png)!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A1111_options_keep_the_keys_CLIP_stop_at_last_layers_for_its_later_requests()
    {
        using var http = _factory.CreateClient();
        Assert.Equal(1, (await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct)).GetProperty("CLIP_stop_at_last_layers").GetInt32());

        var set = await http.PostAsync("/sdapi/v1/options", Json("""{"sd_model_checkpoint":"clip","CLIP_stop_at_last_layers":3}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Equal(3, (await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct)).GetProperty("CLIP_stop_at_last_layers").GetInt32());
        var body = await ReadAsync(await http.PostAsync("/sdapi/v1/txt2img", Json("""{"prompt":"a fox","steps":2,"width":64,"height":64}"""), Ct));
        Assert.Equal(3, JsonDocument.Parse(body.GetProperty("info").GetString()!).RootElement.GetProperty("clip_skip").GetInt32());

        // A bad value is refused and changes nothing, the model included.
        var bad = await http.PostAsync("/sdapi/v1/options", Json("""{"sd_model_checkpoint":"plain","CLIP_stop_at_last_layers":2.5}"""), Ct);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        var options = await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct);
        Assert.Equal(3, options.GetProperty("CLIP_stop_at_last_layers").GetInt32());
        Assert.StartsWith("clip [", options.GetProperty("sd_model_checkpoint").GetString(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/sdapi/v1/options", Json("""{"CLIP_stop_at_last_layers":"1"}"""), Ct)).StatusCode);
        Assert.Equal(1, (await http.GetFromJsonAsync<JsonElement>("/sdapi/v1/options", Ct)).GetProperty("CLIP_stop_at_last_layers").GetInt32());
    }

    [Theory]
    [InlineData("""{"prompt":"a fox","steps":2,"width":64,"height":64,"override_settings":{"CLIP_stop_at_last_layers":2}}""", "hidden_states")]
    [InlineData("""{"prompt":"a fox","steps":2,"width":64,"height":64,"override_settings":{"CLIP_stop_at_last_layers":0}}""", "CLIP_stop_at_last_layers")]
    [InlineData("""{"prompt":"a fox","steps":2,"width":64,"height":64,"override_settings":{"CLIP_stop_at_last_layers":"two"}}""", "CLIP_stop_at_last_layers")]
    [InlineData("""{"prompt":"a (fox:1.2.3)","steps":2,"width":64,"height":64}""", "prompt")]
    public async Task A1111_refuses_what_it_cannot_run_with_a_422_in_its_error_shape(string body, string named)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/sdapi/v1/txt2img", Json(body), Ct);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = await ReadAsync(response);
        Assert.Contains(named, error.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(_factory.ImagesDirectory) && Directory.EnumerateFiles(_factory.ImagesDirectory, "*", SearchOption.AllDirectories).Any());
    }
}
