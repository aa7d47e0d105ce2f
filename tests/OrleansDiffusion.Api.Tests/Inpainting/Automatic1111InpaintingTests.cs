using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Inpainting;

/// <summary>
/// <c>/sdapi/v1/img2img</c> acts on every inpainting field: <c>mask</c>, <c>mask_blur</c>,
/// <c>inpainting_mask_invert</c>, <c>inpainting_fill</c> (all four), <c>inpaint_full_res</c> and its padding, with
/// AUTOMATIC1111's API defaults (blur 4, fill, only masked); out-of-range values are refused by name.
/// </summary>
public sealed class Automatic1111InpaintingTests : IDisposable
{
    private readonly ApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, object?> Body(Func<int, int, bool> repaint, params (string Key, object? Value)[] fields)
    {
        var body = new Dictionary<string, object?>
        {
            ["prompt"] = "a stormy sea",
            ["init_images"] = new[] { MaskImages.DataUrl(MaskImages.Picture()) },
            ["mask"] = Convert.ToBase64String(MaskImages.WhiteMask(repaint)),
            ["denoising_strength"] = 0.9,
            ["steps"] = 4,
            ["width"] = MaskImages.Side,
            ["height"] = MaskImages.Side,
            ["seed"] = 3,
            ["sampler_name"] = "DDIM",
        };
        foreach (var (key, value) in fields)
        {
            body[key] = value;
        }

        return body;
    }

    private async Task<(byte[] Png, string Infotext)> RunAsync(HttpClient http, Dictionary<string, object?> body)
    {
        var response = await http.PostAsync("/sdapi/v1/img2img", JsonContent.Create(body), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var info = JsonDocument.Parse(result.GetProperty("info").GetString()!).RootElement;
        return (Convert.FromBase64String(result.GetProperty("images")[0].GetString()!), info.GetProperty("infotexts")[0].GetString()!);
    }

    [Fact]
    public async Task The_mask_repaints_white_and_inpainting_mask_invert_repaints_the_rest()
    {
        using var http = _factory.CreateClient();

        var (white, infotext) = await RunAsync(http, Body(MaskImages.InSquare, ("mask_blur", 0), ("inpainting_fill", 1), ("inpaint_full_res", false)));
        var (inverted, _) = await RunAsync(http, Body(MaskImages.InSquare, ("mask_blur", 0), ("inpainting_fill", 1), ("inpaint_full_res", false), ("inpainting_mask_invert", 1)));

        var inside = MaskImages.Changed(MaskImages.Picture(), white);
        Assert.NotEmpty(inside);
        Assert.All(inside, p => Assert.True(MaskImages.InSquare(p.X, p.Y)));
        var outside = MaskImages.Changed(MaskImages.Picture(), inverted);
        Assert.NotEmpty(outside);
        Assert.All(outside, p => Assert.False(MaskImages.InSquare(p.X, p.Y)));
        Assert.Contains("Denoising strength: 0.9, Mask blur: 0", infotext, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_api_defaults_blur_four_fill_and_only_masked_are_applied_and_reported()
    {
        using var http = _factory.CreateClient();

        // A small mask in a corner: "only masked" renders its box, grown to 64 x 64's ratio, at 64 x 64.
        bool Corner(int x, int y) => x is >= 40 and < 56 && y is >= 4 and < 20;
        var (png, infotext) = await RunAsync(http, Body(Corner));
        var (whole, _) = await RunAsync(http, Body(Corner, ("inpaint_full_res", false)));

        Assert.Contains("Mask blur: 4, Inpaint area: Only masked, Masked area padding: 0", infotext, StringComparison.Ordinal);
        var changed = MaskImages.Changed(MaskImages.Picture(), png);
        Assert.Contains(changed, p => !Corner(p.X, p.Y)); // the blur of 4 reaches past the mask...
        Assert.All(changed, p => Assert.True(p.X is >= 30 and < 64 && p.Y < 30, $"{p}")); // ...but not far
        Assert.NotEqual(MaskImages.Pixels(whole), MaskImages.Pixels(png)); // and the box was rendered on its own
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Every_inpainting_fill_runs_and_changes_only_the_masked_area(int fill)
    {
        using var http = _factory.CreateClient();

        var (png, _) = await RunAsync(http, Body(MaskImages.InSquare, ("mask_blur", 0), ("inpainting_fill", fill), ("inpaint_full_res", false), ("denoising_strength", 0.5)));

        var changed = MaskImages.Changed(MaskImages.Picture(), png);
        Assert.NotEmpty(changed);
        Assert.All(changed, p => Assert.True(MaskImages.InSquare(p.X, p.Y)));
    }

    [Fact]
    public async Task The_fills_start_the_masked_area_differently()
    {
        using var http = _factory.CreateClient();
        var results = new List<byte[]>();
        foreach (var fill in new[] { 0, 1, 2, 3 })
        {
            results.Add((await RunAsync(http, Body(MaskImages.InSquare, ("mask_blur", 0), ("inpainting_fill", fill), ("inpaint_full_res", false), ("denoising_strength", 0.5)))).Png);
        }

        for (var a = 0; a < results.Count; a++)
        {
            for (var b = a + 1; b < results.Count; b++)
            {
                Assert.NotEqual(MaskImages.Pixels(results[a]), MaskImages.Pixels(results[b]));
            }
        }
    }

    [Theory]
    [InlineData("inpainting_fill", 4)]
    [InlineData("inpainting_mask_invert", 2)]
    [InlineData("mask_blur", 65)]
    [InlineData("mask_blur_x", -1)]
    [InlineData("inpaint_full_res_padding", -3)]
    public async Task An_inpainting_field_out_of_range_is_refused_by_name(string field, int value)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/sdapi/v1/img2img", JsonContent.Create(Body(MaskImages.InSquare, (field, value))), Ct);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.StartsWith(field + ":", error.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("HTTPException", error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_mask_of_another_size_is_a_422_in_a1111s_shape_as_a_bad_init_image_is_and_stores_nothing()
    {
        using var http = _factory.CreateClient();
        var body = Body(MaskImages.InSquare);
        body["mask"] = Convert.ToBase64String(MaskImages.WhiteMask(MaskImages.InSquare, 32, 32));

        var response = await http.PostAsync("/sdapi/v1/img2img", JsonContent.Create(body), Ct);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.StartsWith("mask: The mask is 32x32", error.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("422: " + error.GetProperty("detail").GetString(), error.GetProperty("errors").GetString());
        Assert.False(Directory.Exists(_factory.ImagesDirectory) && Directory.EnumerateFiles(_factory.ImagesDirectory, "*", SearchOption.AllDirectories).Any());
    }
}
