using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrleansDiffusion.Engine.Imaging;

namespace OrleansDiffusion.Api.Tests.Inpainting;

/// <summary>
/// <c>mask</c> and <c>mask_blur</c> on <c>POST /v1/generations</c>: white repaints, the rest of the init image comes back
/// unchanged; the mask is stored like the init image and is part of the request key; a bad mask is a 400 that stores
/// nothing.
/// </summary>
public sealed class NativeInpaintingTests : IDisposable
{
    private readonly ApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

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

    private static object Body(byte[] mask, int? blur = 0, long seed = 5) => new
    {
        prompt = "a purple sea",
        init_image = MaskImages.DataUrl(MaskImages.Picture()),
        mask = Convert.ToBase64String(mask),
        mask_blur = blur,
        strength = 0.9,
        steps = 4,
        width = MaskImages.Side,
        height = MaskImages.Side,
        seed,
        scheduler = "ddim",
    };

    private async Task<(JsonElement Job, byte[]? Png)> RunAsync(HttpClient http, object body)
    {
        var response = await http.PostAsync("/v1/generations", JsonContent.Create(body), Ct);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitAsync(http, response.Headers.Location!.ToString());
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        var png = await http.GetByteArrayAsync(job.GetProperty("images")[0].GetProperty("url").GetString(), Ct);
        return (job, png);
    }

    [Fact]
    public async Task A_mask_repaints_its_white_and_the_rest_of_the_image_comes_back_unchanged()
    {
        using var http = _factory.CreateClient();

        var (_, png) = await RunAsync(http, Body(MaskImages.WhiteMask(MaskImages.InSquare)));

        var changed = MaskImages.Changed(MaskImages.Picture(), png!);
        Assert.NotEmpty(changed);
        Assert.All(changed, p => Assert.True(MaskImages.InSquare(p.X, p.Y), $"{p} is outside the mask"));
        Assert.True(changed.Count > 32 * 32 / 2, $"the square is repainted ({changed.Count} pixels)");
        Assert.Equal(2, Directory.EnumerateFiles(Path.Combine(_factory.ImagesDirectory, "inputs")).Count()); // the image and the mask
    }

    [Fact]
    public async Task Mask_blur_softens_the_edge_into_the_kept_pixels()
    {
        using var http = _factory.CreateClient();

        var (_, sharp) = await RunAsync(http, Body(MaskImages.WhiteMask(MaskImages.InSquare), blur: 0));
        var (_, soft) = await RunAsync(http, Body(MaskImages.WhiteMask(MaskImages.InSquare), blur: 8));

        bool Outside(int distance, (int X, int Y) p) =>
            p.X < 16 - distance || p.X >= 48 + distance || p.Y < 16 - distance || p.Y >= 48 + distance;
        Assert.DoesNotContain(MaskImages.Changed(MaskImages.Picture(), sharp!), p => Outside(0, p));
        var blurred = MaskImages.Changed(MaskImages.Picture(), soft!);
        Assert.Contains(blurred, p => Outside(0, p)); // the blur reaches past the square...
        Assert.DoesNotContain(blurred, p => Outside(21, p)); // ...by at most its kernel (2 * int(2.5 * 8 + 0.5) + 1 taps)
    }

    [Fact]
    public async Task The_mask_is_part_of_the_request_key()
    {
        using var http = _factory.CreateClient();

        var (first, _) = await RunAsync(http, Body(MaskImages.WhiteMask(MaskImages.InSquare)));
        var (same, _) = await RunAsync(http, Body(MaskImages.WhiteMask(MaskImages.InSquare)));
        var (other, _) = await RunAsync(http, Body(MaskImages.WhiteMask((x, _) => x < 32)));
        var (blurred, _) = await RunAsync(http, Body(MaskImages.WhiteMask(MaskImages.InSquare), blur: 2));

        Assert.False(first.GetProperty("cached").GetBoolean());
        Assert.True(same.GetProperty("cached").GetBoolean());
        Assert.False(other.GetProperty("cached").GetBoolean());
        Assert.False(blurred.GetProperty("cached").GetBoolean());
    }

    private static string[] InputFiles(ApiFactory factory)
    {
        var inputs = Path.Combine(factory.ImagesDirectory, "inputs");
        return Directory.Exists(inputs) ? Directory.GetFiles(inputs) : [];
    }

    [Fact]
    public async Task A_mask_is_stored_normalised_only_once_its_job_is_accepted()
    {
        // Nothing runs; five units for the one local user.
        using var factory = new ApiFactory(new()
        {
            ["Diffusion:Capacity"] = "0",
            ["Diffusion:Api:MaxConcurrentUnitsAnonymous"] = "5",
        });
        using var http = factory.CreateClient();
        object Masked(int steps, int side) => new
        {
            prompt = "a purple sea",
            init_image = MaskImages.DataUrl(MaskImages.Picture()),
            mask = Convert.ToBase64String(MaskImages.WhiteMask(MaskImages.InSquare)),
            steps,
            width = side,
            height = side,
            seed = 1,
        };

        // Refused by the cluster after the API decoded both uploads: over the whole quota.
        var refused = await http.PostAsync("/v1/generations", JsonContent.Create(Masked(steps: 6, side: 512)), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Empty(InputFiles(factory));

        var accepted = await http.PostAsync("/v1/generations", JsonContent.Create(Masked(steps: 4, side: 64)), Ct);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var stored = await Task.WhenAll(InputFiles(factory).Select(f => File.ReadAllBytesAsync(f, Ct)));
        Assert.Equal(2, stored.Length);
        var mask = Assert.Single(stored, b => b.Length == NormalizedMask.LengthOf(64, 64));
        Assert.Contains(1f, NormalizedMask.ToPlane(mask, 64, 64));
        Assert.Single(stored, b => b.Length == NormalizedImage.LengthOf(64, 64));
    }

    [Fact]
    public async Task A_cache_hit_stores_neither_its_init_image_nor_its_mask()
    {
        using var http = _factory.CreateClient();
        var body = Body(MaskImages.WhiteMask(MaskImages.InSquare));
        await RunAsync(http, body);
        foreach (var file in InputFiles(_factory))
        {
            File.Delete(file);
        }

        var (hit, _) = await RunAsync(http, body);

        Assert.True(hit.GetProperty("cached").GetBoolean());
        Assert.Empty(InputFiles(_factory));
    }

    public static TheoryData<string, string> BadMasks() => new()
    {
        { "not base64", "%%%" },
        { "not an image", Convert.ToBase64String("hello world"u8.ToArray()) },
        { "another size than the image", Convert.ToBase64String(MaskImages.WhiteMask(MaskImages.InSquare, 32, 32)) },
        { "nothing to repaint", Convert.ToBase64String(MaskImages.WhiteMask((_, _) => false)) },
    };

    [Theory]
    [MemberData(nameof(BadMasks))]
    public async Task A_bad_mask_is_a_400_naming_the_mask_and_stores_nothing(string why, string mask)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", JsonContent.Create(new
        {
            prompt = "x", init_image = MaskImages.DataUrl(MaskImages.Picture()), mask, steps = 2, width = 64, height = 64,
        }), Ct);

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{why}: {(int)response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("Invalid mask", problem.GetProperty("title").GetString());
        Assert.StartsWith("mask: ", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(_factory.ImagesDirectory) && Directory.EnumerateFiles(_factory.ImagesDirectory, "*", SearchOption.AllDirectories).Any());
    }

    [Theory]
    [InlineData("""{"prompt":"x","mask":"aGVsbG8="}""", "mask")]
    [InlineData("""{"prompt":"x","init_image":"aGVsbG8=","mask":"aGVsbG8=","mask_blur":65}""", "mask_blur")]
    [InlineData("""{"prompt":"x","init_image":"aGVsbG8=","mask":"aGVsbG8=","mask_blur":-1}""", "mask_blur")]
    public async Task Mask_fields_out_of_bounds_are_a_validation_problem(string body, string field)
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"errors name '{field}'");
    }
}
