using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Images;

namespace OrleansDiffusion.Api.Tests.Inpainting;

/// <summary>
/// <c>POST /v1/images/edits</c> with the official OpenAI .NET SDK and as other clients post it: a mask's transparent
/// pixels are edited and the rest comes back unchanged; without a mask an image's own transparency is the mask, and an
/// opaque image is edited as a whole.
/// </summary>
public sealed class OpenAIEditTests : IDisposable
{
    private readonly ApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ImageClient Sdk() => new("dall-e-2", new ApiKeyCredential("unused"), new OpenAIClientOptions
    {
        Endpoint = new Uri(_factory.Server.BaseAddress, "v1"),
        Transport = new HttpClientPipelineTransport(_factory.CreateClient()),
    });

    private static MemoryStream Stream(byte[] bytes) => new(bytes);

    [Fact]
    public async Task The_sdk_edits_the_transparent_area_of_its_mask_and_returns_the_rest_unchanged()
    {
        using var image = Stream(MaskImages.Picture());
        using var mask = Stream(MaskImages.TransparentMask(MaskImages.InSquare));

        var result = await Sdk().GenerateImageEditsAsync(
            image, "picture.png", "a red fox", mask, "mask.png", 2,
            new ImageEditOptions { Size = new GeneratedImageSize(64, 64), ResponseFormat = GeneratedImageFormat.Bytes },
            Ct);

        Assert.Equal(2, result.Value.Count);
        foreach (var edited in result.Value)
        {
            var changed = MaskImages.Changed(MaskImages.Picture(), edited.ImageBytes.ToArray());
            Assert.True(changed.Count > 32 * 32 / 2, $"the transparent square is repainted ({changed.Count} pixels)");
            Assert.All(changed, p => Assert.True(MaskImages.InSquare(p.X, p.Y), $"{p} is outside the mask"));
        }

        Assert.NotEqual(MaskImages.Pixels(result.Value[0].ImageBytes.ToArray()), MaskImages.Pixels(result.Value[1].ImageBytes.ToArray()));
    }

    [Fact]
    public async Task Without_a_mask_the_images_transparent_pixels_are_edited_and_an_opaque_image_as_a_whole()
    {
        using var holed = Stream(MaskImages.PictureWithHole(MaskImages.InSquare));
        using var opaque = Stream(MaskImages.Picture());
        var options = new ImageEditOptions { ResponseFormat = GeneratedImageFormat.Bytes };

        var hole = await Sdk().GenerateImageEditAsync(holed, "holed.png", "a red fox", options, Ct);
        var whole = await Sdk().GenerateImageEditAsync(opaque, "picture.png", "a red fox", options, Ct);

        var changed = MaskImages.Changed(MaskImages.Picture(), hole.Value.ImageBytes.ToArray());
        Assert.NotEmpty(changed);
        Assert.All(changed, p => Assert.True(MaskImages.InSquare(p.X, p.Y)));
        var everywhere = MaskImages.Changed(MaskImages.Picture(), whole.Value.ImageBytes.ToArray()); // size auto: the image's 64 x 64
        Assert.Contains(everywhere, p => !MaskImages.InSquare(p.X, p.Y));
        Assert.Contains(everywhere, p => MaskImages.InSquare(p.X, p.Y));
    }

    [Fact]
    public async Task The_sdk_sees_a_mask_of_another_size_as_a_400_naming_the_mask()
    {
        using var image = Stream(MaskImages.Picture());
        using var mask = Stream(MaskImages.TransparentMask(MaskImages.InSquare, 32, 32));

        var error = await Assert.ThrowsAsync<ClientResultException>(() => Sdk().GenerateImageEditAsync(
            image, "picture.png", "x", mask, "mask.png", new ImageEditOptions { Size = new GeneratedImageSize(64, 64) }, Ct));

        Assert.Equal(400, error.Status);
        using var body = JsonDocument.Parse(error.GetRawResponse()!.Content.ToString());
        Assert.Equal("mask", body.RootElement.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("must have the size of the image", body.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    private static MultipartFormDataContent Form(params (string Name, object Value)[] parts)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in parts)
        {
            if (value is byte[] file)
            {
                var content = new ByteArrayContent(file);
                content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
                form.Add(content, name, name.TrimEnd('[', ']') + ".png");
            }
            else
            {
                form.Add(new StringContent((string)value), name);
            }
        }

        return form;
    }

    [Fact]
    public async Task An_image_array_field_with_a_url_response_works_as_python_clients_send_it()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/images/edits", Form(
            ("image[]", MaskImages.Picture()), ("mask", MaskImages.TransparentMask((x, _) => x < 32)), ("prompt", "a fox"), ("size", "64x64"), ("steps", "3"), ("seed", "9")), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var url = body.GetProperty("data")[0].GetProperty("url").GetString()!;
        var changed = MaskImages.Changed(MaskImages.Picture(), await http.GetByteArrayAsync(url, Ct));
        Assert.NotEmpty(changed);
        Assert.All(changed, p => Assert.True(p.X < 32));
    }

    public static TheoryData<string, string> BadForms() => new()
    {
        { "no image", "image" },
        { "two images", "image" },
        { "no prompt", "prompt" },
        { "n not a number", "n" },
        { "a bad size", "size" },
        { "an opaque mask", "mask" },
        { "not an image", "image" },
    };

    [Theory]
    [MemberData(nameof(BadForms))]
    public async Task A_bad_form_is_a_400_naming_the_field_and_queues_nothing(string why, string param)
    {
        using var http = _factory.CreateClient();
        var picture = MaskImages.Picture();
        var parts = why switch
        {
            "no image" => Form(("prompt", "x")),
            "two images" => Form(("image[]", picture), ("image[]", picture), ("prompt", "x")),
            "no prompt" => Form(("image", picture)),
            "n not a number" => Form(("image", picture), ("prompt", "x"), ("n", "two")),
            "a bad size" => Form(("image", picture), ("prompt", "x"), ("size", "100x100")),
            "an opaque mask" => Form(("image", picture), ("mask", MaskImages.WhiteMask(MaskImages.InSquare)), ("prompt", "x")),
            _ => Form(("image", "GIF89a, no"u8.ToArray()), ("prompt", "x")),
        };

        var response = await http.PostAsync("/v1/images/edits", parts, Ct);

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{why}: {(int)response.StatusCode}");
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        await AssertNothingQueuedAsync();
    }

    [Fact]
    public async Task A_form_from_another_sites_page_is_refused_and_a_json_body_is_not_a_form()
    {
        using var http = _factory.CreateClient();
        var form = Form(("image", MaskImages.Picture()), ("prompt", "from a web page"));
        form.Headers.Add("Origin", "http://evil.example");

        var crossSite = await http.PostAsync("/v1/images/edits", form, Ct);
        var json = await http.PostAsync("/v1/images/edits", new StringContent("""{"prompt":"x"}""", Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, crossSite.StatusCode);
        Assert.Equal("cross_site", (await crossSite.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.StatusCode);
        Assert.True((await json.Content.ReadFromJsonAsync<JsonElement>(Ct)).TryGetProperty("error", out _));
        await AssertNothingQueuedAsync();
    }

    private async Task AssertNothingQueuedAsync()
    {
        var stats = await _factory.Services.GetRequiredService<IGrainFactory>().GetGrain<Contracts.IWorkQueueGrain>(Contracts.IWorkQueueGrain.DefaultKey).GetStats();
        Assert.Equal(0, stats.Pending + stats.Running + (int)stats.Completed);
        Assert.False(Directory.Exists(_factory.ImagesDirectory) && Directory.EnumerateFiles(_factory.ImagesDirectory, "*", SearchOption.AllDirectories).Any());
    }
}
