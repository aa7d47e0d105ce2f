using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Api.Tests.Native;

public sealed class GenerationApiTests : IDisposable
{
    private readonly ApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> WaitAsync(HttpClient http, string location)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var job = await http.GetFromJsonAsync<JsonElement>(location, TestContext.Current.CancellationToken);
            var status = job.GetProperty("status").GetString();
            if (status is "succeeded" or "failed" or "cancelled" || DateTime.UtcNow > deadline)
            {
                return job;
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_job_is_accepted_runs_and_its_image_can_be_fetched()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", Json("""{"prompt":"a red fox","negative_prompt":"fog","steps":4,"width":64,"height":96,"seed":7,"scheduler":"euler_a","n":2}"""), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        var id = accepted.GetProperty("id").GetString();
        Assert.Equal($"/v1/generations/{id}", response.Headers.Location!.ToString());
        Assert.Contains(accepted.GetProperty("status").GetString(), new[] { "queued", "running", "succeeded" });
        Assert.True(accepted.TryGetProperty("queue_position", out _) || accepted.GetProperty("status").GetString() != "queued");

        var job = await WaitAsync(http, response.Headers.Location!.ToString());
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        Assert.False(job.GetProperty("cached").GetBoolean());
        Assert.Equal(4, job.GetProperty("progress").GetProperty("steps").GetInt32());
        var images = job.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(2, images.Count);
        Assert.Equal([7L, 8L], images.Select(i => i.GetProperty("seed").GetInt64()));

        var png = await http.GetByteArrayAsync(images[1].GetProperty("url").GetString(), TestContext.Current.CancellationToken);
        using var image = Image.Load<Rgb24>(png);
        Assert.Equal((64, 96), (image.Width, image.Height));
    }

    [Fact]
    public async Task The_same_request_again_is_answered_from_the_cache()
    {
        using var http = _factory.CreateClient();
        const string body = """{"prompt":"cache me","steps":3,"width":64,"height":64,"seed":11}""";

        var first = await WaitAsync(http, (await http.PostAsync("/v1/generations", Json(body), TestContext.Current.CancellationToken)).Headers.Location!.ToString());
        var second = await http.PostAsync("/v1/generations", Json(body), TestContext.Current.CancellationToken);
        var answer = await second.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);

        Assert.Equal("succeeded", answer.GetProperty("status").GetString());
        Assert.True(answer.GetProperty("cached").GetBoolean());
        Assert.False(first.GetProperty("cached").GetBoolean());
    }

    [Fact]
    public async Task A_job_can_be_cancelled_and_unknown_jobs_are_404()
    {
        using var http = _factory.CreateClient();
        var response = await http.PostAsync("/v1/generations", Json("""{"prompt":"cancel me","steps":150,"width":512,"height":512}"""), TestContext.Current.CancellationToken);
        var location = response.Headers.Location!.ToString();

        var cancelled = await http.DeleteAsync(location, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        Assert.Equal("cancelled", (await cancelled.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).GetProperty("status").GetString());
        Assert.Equal("cancelled", (await WaitAsync(http, location)).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/generations/{Guid.NewGuid()}", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync($"/v1/generations/{Guid.NewGuid()}", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"{location}/images/0", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task Models_and_tokenize()
    {
        using var http = _factory.CreateClient();

        var models = await http.GetFromJsonAsync<JsonElement>("/v1/models", TestContext.Current.CancellationToken);
        var model = Assert.Single(models.GetProperty("data").EnumerateArray());
        Assert.Equal("demo", model.GetProperty("id").GetString());
        Assert.True(model.GetProperty("demo").GetBoolean());

        var tokens = await (await http.PostAsync("/v1/tokenize", Json("""{"prompt":"a photo of a cat"}"""), TestContext.Current.CancellationToken)).Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal([49406, 320, 1125, 539, 320, 2368, 49407], tokens.GetProperty("ids").EnumerateArray().Take(7).Select(i => i.GetInt32()));
        Assert.Equal(77, tokens.GetProperty("ids").GetArrayLength());
        Assert.Equal("photo</w>", tokens.GetProperty("tokens")[1].GetString());
        Assert.False(tokens.GetProperty("truncated").GetBoolean());

        var longPrompt = string.Join(' ', Enumerable.Repeat("cat", 80));
        var truncated = await (await http.PostAsync("/v1/tokenize", JsonContent.Create(new { prompt = longPrompt }), TestContext.Current.CancellationToken)).Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.True(truncated.GetProperty("truncated").GetBoolean());
        Assert.Equal(80, truncated.GetProperty("content_tokens").GetInt32());
    }

    public static TheoryData<string, string> BadBodies() => new()
    {
        { "{ not json", "" },
        { """{"prompt": 5}""", "" },
        { """{"prompt":"x","width":"big"}""", "" },
        { """{"width":512}""", "prompt" },
        { """{"prompt":""}""", "prompt" },
        { """{"prompt":"x","width":100}""", "width" },
        { """{"prompt":"x","height":4096}""", "height" },
        { """{"prompt":"x","steps":0}""", "steps" },
        { """{"prompt":"x","steps":100000}""", "steps" },
        { """{"prompt":"x","guidance_scale":-1}""", "guidance_scale" },
        { """{"prompt":"x","guidance_scale":1e308}""", "guidance_scale" },
        { """{"prompt":"x","seed":-5}""", "seed" },
        { """{"prompt":"x","seed":99999999999}""", "seed" },
        { """{"prompt":"x","n":0}""", "n" },
        { """{"prompt":"x","n":1000}""", "n" },
        { """{"prompt":"x","scheduler":"heun"}""", "scheduler" },
        { """{"prompt":"x","strength":1.5}""", "strength" },
        { """{"prompt":"x","model":"sdxl-turbo"}""", "" },
        { """{"prompt":"x","init_image":"%%%not base64%%%"}""", "" },
        { """{"prompt":"x","init_image":"aGVsbG8gd29ybGQ="}""", "" },
        { """{"prompt":"a (fox:1.2.3)"}""", "prompt" },
        { """{"prompt":"x","negative_prompt":"(fog:.)"}""", "negative_prompt" },
        { """{"prompt":"x","clip_skip":0}""", "clip_skip" },
        { """{"prompt":"x","clip_skip":13}""", "clip_skip" },
        { """{"prompt":"x","clip_skip":2}""", "" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_input_is_a_4xx_problem_and_changes_nothing(string body, string field)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", Json(body), TestContext.Current.CancellationToken);

        Assert.True((int)response.StatusCode is >= 400 and < 500, $"{(int)response.StatusCode} for {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        if (field.Length > 0)
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"errors name '{field}'");
        }

        Assert.False(Directory.Exists(_factory.ImagesDirectory) && Directory.EnumerateFiles(_factory.ImagesDirectory, "*", SearchOption.AllDirectories).Any());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task Huge_prompts_and_bodies_are_refused()
    {
        using var http = _factory.CreateClient();

        var huge = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt = new string('x', 5000) }), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, huge.StatusCode);

        var body = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt = "x", init_image = new string('A', 20 << 20) }), TestContext.Current.CancellationToken);
        Assert.True((int)body.StatusCode is 400 or 413, $"{(int)body.StatusCode}");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task A_decompression_bomb_init_image_is_refused_before_decoding()
    {
        using var http = _factory.CreateClient();
        var bomb = Convert.ToBase64String(PngWithDeclaredSize(100_000, 100_000));

        var response = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt = "x", init_image = bomb, steps = 4, width = 64, height = 64 }), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Img2img_with_an_uploaded_image()
    {
        using var http = _factory.CreateClient();
        using var source = new Image<Rgb24>(64, 64, new Rgb24(200, 30, 30));
        using var buffer = new MemoryStream();
        source.SaveAsPng(buffer);
        var dataUrl = "data:image/png;base64," + Convert.ToBase64String(buffer.ToArray());

        var response = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt = "sea", init_image = dataUrl, strength = 0.5, steps = 4, width = 64, height = 64, scheduler = "ddim" }), TestContext.Current.CancellationToken);
        var job = await WaitAsync(http, response.Headers.Location!.ToString());

        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        Assert.Single(Directory.EnumerateFiles(Path.Combine(_factory.ImagesDirectory, "inputs")));
    }

    private static byte[] PngWithDeclaredSize(int width, int height)
    {
        // A valid PNG signature and IHDR chunk claiming an enormous image, followed by nothing useful.
        using var stream = new MemoryStream();
        stream.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;
        ihdr[9] = 2;
        WriteChunk(stream, "IHDR", ihdr);
        WriteChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        stream.Write(typeBytes);
        stream.Write(data);
        var crc = System.IO.Hashing.Crc32.HashToUInt32([.. typeBytes, .. data]);
        Span<byte> crcBytes = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(crcBytes, crc);
        stream.Write(crcBytes);
    }
}
