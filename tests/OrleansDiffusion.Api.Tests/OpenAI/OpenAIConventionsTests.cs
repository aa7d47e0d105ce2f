using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Images;

namespace OrleansDiffusion.Api.Tests.OpenAI;

/// <summary>
/// The OpenAI conventions clients rely on (issue 12): base64 by default for GPT image model names, JPEG and WebP with
/// <c>output_compression</c> (as base64 and behind URLs), and <c>usage</c>.
/// </summary>
public sealed class OpenAIConventionsTests : IDisposable
{
    private readonly ApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> GenerateAsync(HttpClient http, object body)
    {
        var response = await http.PostAsJsonAsync("/v1/images/generations", body, Ct);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {json}");
        return json;
    }

    [Fact]
    public async Task GPT_image_model_names_get_b64_json_by_default_and_dall_e_names_and_ours_get_urls()
    {
        using var http = _factory.CreateClient();

        foreach (var (model, base64) in new (string?, bool)[]
        {
            ("gpt-image-1", true), ("gpt-image-1-mini", true), ("chatgpt-image-latest", true),
            ("dall-e-3", false), ("dall-e-2", false), ("demo", false), (null, false),
        })
        {
            var answer = await GenerateAsync(http, new { model, prompt = "a harbour at noon", size = "64x64", steps = 2, seed = 11 });

            var image = Assert.Single(answer.GetProperty("data").EnumerateArray());
            Assert.True(base64 == image.TryGetProperty("b64_json", out _), $"{model}: {image}");
            Assert.True(base64 != image.TryGetProperty("url", out _), $"{model}: {image}");
            Assert.Equal("png", answer.GetProperty("output_format").GetString());
        }
    }

    [Fact]
    public async Task LibreChats_gpt_image_1_request_gets_base64_webp_and_jpeg_at_the_compression_asked()
    {
        using var http = _factory.CreateClient();

        foreach (var format in new[] { "webp", "jpeg" })
        {
            var sizes = new List<int>();
            foreach (var compression in new[] { 100, 5 })
            {
                var answer = await GenerateAsync(http, new
                {
                    model = "gpt-image-1",
                    prompt = "a lighthouse on a cliff",
                    n = 1,
                    size = "64x64",
                    quality = "high",
                    output_format = format,
                    output_compression = compression,
                    steps = 2,
                    seed = 5,
                });

                Assert.Equal(format, answer.GetProperty("output_format").GetString());
                Assert.Equal("64x64", answer.GetProperty("size").GetString());
                var image = Assert.Single(answer.GetProperty("data").EnumerateArray());
                Assert.False(image.TryGetProperty("url", out _));
                var b64 = image.GetProperty("b64_json").GetString();
                Assert.Equal(new EncodedImage($"image/{format}", 64, 64), EncodedImage.OfBase64(b64));
                sizes.Add(Convert.FromBase64String(b64!).Length);
            }

            Assert.True(sizes[1] < sizes[0], $"{format}: compression 5 gives {sizes[1]} bytes, 100 gives {sizes[0]}");
        }
    }

    [Fact]
    public async Task The_dotnet_SDK_gets_webp_bytes_for_gpt_image_1()
    {
        var client = new ImageClient("gpt-image-1", new ApiKeyCredential("unused"), new OpenAIClientOptions
        {
            Endpoint = new Uri(_factory.Server.BaseAddress, "v1"),
            Transport = new HttpClientPipelineTransport(_factory.CreateClient()),
        });

        // The SDK marks output_format and output_compression as evaluation API (OPENAI001); they are what it sends.
#pragma warning disable OPENAI001
        var options = new ImageGenerationOptions { Size = new GeneratedImageSize(64, 64), OutputFileFormat = GeneratedImageFileFormat.Webp, OutputCompressionFactor = 60 };
#pragma warning restore OPENAI001

        var result = await client.GenerateImageAsync("a red fox", options, Ct);

        Assert.Null(result.Value.ImageUri);
        Assert.Equal(new EncodedImage("image/webp", 64, 64), EncodedImage.Of(result.Value.ImageBytes.ToArray()));
    }

    [Fact]
    public async Task A_url_to_a_webp_image_serves_webp_to_its_own_key_only()
    {
        using var factory = new ApiFactory(ApiFactory.WithKeys());
        using var alice = factory.CreateClient(ApiFactory.AliceKey);
        using var bob = factory.CreateClient(ApiFactory.BobKey);

        var answer = await GenerateAsync(alice, new
        {
            model = "dall-e-3", prompt = "a blue door", size = "64x96", output_format = "webp", output_compression = 50, steps = 2,
        });

        var url = new Uri(Assert.Single(answer.GetProperty("data").EnumerateArray()).GetProperty("url").GetString()!);
        Assert.Equal("webp", answer.GetProperty("output_format").GetString());
        Assert.Equal("?format=webp&quality=50", url.Query);
        var webp = await alice.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.OK, webp.StatusCode);
        Assert.Equal("image/webp", webp.Content.Headers.ContentType?.MediaType);
        Assert.Equal(new EncodedImage("image/webp", 64, 96), EncodedImage.Of(await webp.Content.ReadAsByteArrayAsync(Ct)));
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync(url, Ct)).StatusCode);

        var png = await alice.GetAsync(url.GetLeftPart(UriPartial.Path), Ct);
        Assert.Equal("image/png", png.Content.Headers.ContentType?.MediaType);
        Assert.Equal(new EncodedImage("image/png", 64, 96), EncodedImage.Of(await png.Content.ReadAsByteArrayAsync(Ct)));
        foreach (var bad in new[] { "?format=gif", "?format=jpeg&quality=101" })
        {
            var refused = await alice.GetAsync(url.GetLeftPart(UriPartial.Path) + bad, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Usage_counts_the_prompts_tokens_with_the_models_tokenizer_and_one_token_per_image()
    {
        using var http = _factory.CreateClient();
        const string prompt = "a red fox in the snow, (highly detailed:1.2)";
        const string negative = "blurry, dark";

        var answer = await GenerateAsync(http, new { prompt, negative_prompt = negative, n = 2, size = "64x64", steps = 2, response_format = "b64_json" });

        var text = 0;
        foreach (var part in new[] { prompt, negative })
        {
            var tokenized = await (await http.PostAsync("/v1/tokenize", Json(JsonSerializer.Serialize(new { prompt = part })), Ct)).Content.ReadFromJsonAsync<JsonElement>(Ct);
            text += tokenized.GetProperty("token_count").GetInt32();
        }

        Assert.True(text > 5, $"{text} text tokens");
        var usage = answer.GetProperty("usage");
        Assert.Equal(text, usage.GetProperty("input_tokens").GetInt32());
        Assert.Equal(text, usage.GetProperty("input_tokens_details").GetProperty("text_tokens").GetInt32());
        Assert.Equal(0, usage.GetProperty("input_tokens_details").GetProperty("image_tokens").GetInt32());
        Assert.Equal(2, usage.GetProperty("output_tokens").GetInt32());
        Assert.Equal(2, usage.GetProperty("output_tokens_details").GetProperty("image_tokens").GetInt32());
        Assert.Equal(text + 2, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Edits_refuse_a_bad_output_compression_or_partial_images_in_OpenAIs_error_shape()
    {
        using var http = _factory.CreateClient();

        foreach (var (field, value) in new[] { ("output_compression", "101"), ("output_compression", "most"), ("partial_images", "4"), ("output_format", "gif") })
        {
            using var form = new MultipartFormDataContent
            {
                { new ByteArrayContent(Inpainting.MaskImages.Picture()) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "image", "image.png" },
                { new StringContent("a fox"), "prompt" },
                { new StringContent(value), field },
            };

            var response = await http.PostAsync("/v1/images/edits", form, Ct);

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var error = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error");
            Assert.Equal(field, error.GetProperty("param").GetString());
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        }
    }
}
