using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Images;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Api.Tests.OpenAI;

public sealed class OpenAIImageApiTests : IDisposable
{
    private readonly ApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>The official OpenAI .NET SDK, talking to the in-process API through the test server's handler.</summary>
    private static ImageClient SdkClient(ApiFactory factory, string key = "unused")
    {
        var http = factory.CreateClient();
        return new ImageClient("dall-e-2", new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = new Uri(factory.Server.BaseAddress, "v1"),
            Transport = new HttpClientPipelineTransport(http),
        });
    }

    private static void AssertPng(byte[] png, int width, int height)
    {
        using var image = Image.Load<Rgb24>(png);
        Assert.Equal((width, height), (image.Width, image.Height));
    }

    [Fact]
    public async Task The_OpenAI_SDK_generates_b64_json_images()
    {
        var client = SdkClient(_factory);

        var result = await client.GenerateImagesAsync(
            "a red fox",
            2,
            new ImageGenerationOptions { Size = new GeneratedImageSize(64, 64), ResponseFormat = GeneratedImageFormat.Bytes },
            Ct);

        Assert.Equal(2, result.Value.Count);
        Assert.True(result.Value.CreatedAt > DateTimeOffset.UtcNow.AddMinutes(-5));
        foreach (var image in result.Value)
        {
            Assert.Null(image.ImageUri);
            AssertPng(image.ImageBytes.ToArray(), 64, 64);
        }
    }

    [Fact]
    public async Task The_OpenAI_SDK_gets_urls_that_serve_the_png()
    {
        var client = SdkClient(_factory);
        using var http = _factory.CreateClient();

        var result = await client.GenerateImageAsync(
            "a lighthouse",
            new ImageGenerationOptions { Size = new GeneratedImageSize(64, 96), ResponseFormat = GeneratedImageFormat.Uri },
            Ct);

        var url = result.Value.ImageUri;
        Assert.NotNull(url);
        Assert.True(url.IsAbsoluteUri);
        Assert.Matches("/v1/generations/[0-9a-f-]{36}/images/0$", url.AbsolutePath);
        AssertPng(await http.GetByteArrayAsync(url, Ct), 64, 96);
    }

    [Fact]
    public async Task The_OpenAI_SDK_sees_a_bad_size_as_a_400()
    {
        var client = SdkClient(_factory);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.GenerateImageAsync(
            "x", new ImageGenerationOptions { Size = new GeneratedImageSize(100, 100) }, Ct));

        Assert.Equal(400, error.Status);
        Assert.Contains("size", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_WebUIs_request_body_gets_b64_json()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync(
            "/v1/images/generations",
            Json("""{"model":"dall-e-3","prompt":"a watercolor of a harbour","n":1,"size":"64x64","response_format":"b64_json"}"""),
            Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(body.GetProperty("created").GetInt64() > 0);
        Assert.Equal("png", body.GetProperty("output_format").GetString());
        var data = Assert.Single(body.GetProperty("data").EnumerateArray());
        Assert.False(data.TryGetProperty("url", out _));
        Assert.False(data.TryGetProperty("revised_prompt", out _));
        AssertPng(Convert.FromBase64String(data.GetProperty("b64_json").GetString()!), 64, 64);
    }

    [Fact]
    public async Task A_served_model_id_is_honoured_and_a_positive_negative_split_is_revised()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync(
            "/v1/images/generations",
            Json("""{"model":"demo","prompt":"a cat | blurry, dark","size":"64x64","response_format":"b64_json","steps":2,"quality":"hd","style":"vivid","user":"u1","moderation":"low","background":"opaque","output_format":"png"}"""),
            Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var data = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("data")[0];
        Assert.Equal("a cat", data.GetProperty("revised_prompt").GetString());
    }

    public static TheoryData<string, string?> BadBodies() => new()
    {
        { "{ not json", null },
        { "", null },
        { """{"prompt": 5}""", "prompt" },
        { """{"size":"64x64"}""", "prompt" },
        { """{"prompt":"  "}""", "prompt" },
        { """{"prompt":"x","size":"100x100"}""", "size" },
        { """{"prompt":"x","size":"huge"}""", "size" },
        { """{"prompt":"x","size":"4096x4096"}""", "size" },
        { """{"prompt":"x","n":9}""", "n" },
        { """{"prompt":"x","n":11}""", "n" },
        { """{"prompt":"x","n":0}""", "n" },
        { """{"prompt":"x","response_format":"xml"}""", "response_format" },
        { """{"prompt":"x","output_format":"gif"}""", "output_format" },
        { """{"prompt":"x","output_compression":101}""", "output_compression" },
        { """{"prompt":"x","output_compression":-1}""", "output_compression" },
        { """{"prompt":"x","output_compression":"high"}""", "output_compression" },
        { """{"prompt":"x","stream":true,"partial_images":4}""", "partial_images" },
        { """{"prompt":"x","partial_images":-1}""", "partial_images" },
        { """{"prompt":"x","background":"transparent"}""", "background" },
        { """{"prompt":"x","steps":100000}""", "steps" },
        { """{"prompt":"a (fox:1.2.3)"}""", "prompt" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_requests_are_400_in_OpenAIs_error_shape(string body, string? param)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/images/generations", Json(body), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.True(error.TryGetProperty("code", out _));
        if (param is null)
        {
            Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        }
        else
        {
            Assert.Equal(param, error.GetProperty("param").GetString());
        }
    }

    [Fact]
    public async Task With_keys_no_key_is_a_401_in_OpenAIs_error_shape_and_a_good_key_works()
    {
        using var factory = new ApiFactory(ApiFactory.WithKeys());
        using var anonymous = factory.CreateClient();
        const string body = """{"prompt":"a key","size":"64x64","response_format":"b64_json","steps":2}""";

        var missing = await anonymous.PostAsync("/v1/images/generations", Json(body), Ct);
        using var wrong = factory.CreateClient("not-a-key");
        var refused = await wrong.PostAsync("/v1/images/generations", Json(body), Ct);

        foreach (var response in new[] { missing, refused })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            var error = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error");
            Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
            Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        }

        var result = await SdkClient(factory, ApiFactory.AliceKey).GenerateImageAsync(
            "a key", new ImageGenerationOptions { Size = new GeneratedImageSize(64, 64), ResponseFormat = GeneratedImageFormat.Bytes }, Ct);
        AssertPng(result.Value.ImageBytes.ToArray(), 64, 64);

        using var bob = factory.CreateClient();
        bob.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiFactory.BobKey);
        Assert.Equal(HttpStatusCode.OK, (await bob.PostAsync("/v1/images/generations", Json(body), Ct)).StatusCode);
    }

    [Fact]
    public async Task Rate_limited_requests_are_429_in_OpenAIs_error_shape_with_Retry_After()
    {
        using var factory = new ApiFactory(new() { ["Diffusion:Api:RequestsPerMinute"] = "1" });
        using var http = factory.CreateClient();

        await http.PostAsync("/v1/images/generations", Json("""{"prompt":"x","n":99}"""), Ct);
        var limited = await http.PostAsync("/v1/images/generations", Json("""{"prompt":"x","n":99}"""), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.NotNull(limited.Headers.RetryAfter);
        var error = (await limited.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error");
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
    }
}
