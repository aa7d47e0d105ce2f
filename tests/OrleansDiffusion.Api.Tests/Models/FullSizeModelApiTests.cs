using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.DemoModel.FullSize;

namespace OrleansDiffusion.Api.Tests.Models;

/// <summary>
/// A full-size SD 1.5 architecture (width-reduced to run in CI, the same blocks) served beside the tiny demo model:
/// <c>GET /v1/models</c> marks both as demo models and says what each is, and the full-size one generates through the API.
/// </summary>
public sealed class FullSizeModelApiTests : IDisposable
{
    private readonly string _models = Path.Combine(Path.GetTempPath(), "od-fullsize-models-" + Guid.NewGuid().ToString("N")[..10]);
    private readonly ApiFactory _factory;

    public FullSizeModelApiTests()
    {
        DemoModelWriter.Write(Path.Combine(_models, "tiny"));
        DemoModelWriter.Write(Path.Combine(_models, "sd15"), new DemoModelOptions { Architecture = DemoModelArchitecture.StableDiffusion15, WidthDivisor = 8 });
        _factory = new ApiFactory(new Dictionary<string, string>
        {
            ["Diffusion:Models:0:Id"] = "tiny",
            ["Diffusion:Models:0:Path"] = Path.Combine(_models, "tiny"),
            ["Diffusion:Models:1:Id"] = "sd15",
            ["Diffusion:Models:1:Path"] = Path.Combine(_models, "sd15"),
        });
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _factory.Dispose();
        try
        {
            Directory.Delete(_models, recursive: true);
        }
        catch (IOException)
        {
            // A file still mapped by a native session; the OS cleans temp.
        }
    }

    [Fact]
    public async Task The_model_list_says_the_full_size_architecture_is_not_a_picture_generator()
    {
        using var http = _factory.CreateClient();

        var models = (await http.GetFromJsonAsync<JsonElement>("/v1/models", Ct)).GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);

        Assert.True(models["sd15"].GetProperty("demo").GetBoolean());
        Assert.Equal("sd1", models["sd15"].GetProperty("family").GetString());
        Assert.Equal(FullSizeModelWriter.Notice(DemoModelArchitecture.StableDiffusion15), models["sd15"].GetProperty("demo_notice").GetString());
        Assert.Contains("NOT a picture generator", models["sd15"].GetProperty("demo_notice").GetString(), StringComparison.Ordinal);
        Assert.True(models["tiny"].GetProperty("demo").GetBoolean());
        Assert.Equal(DemoModelWriter.DemoModelNotice, models["tiny"].GetProperty("demo_notice").GetString());
    }

    [Fact]
    public async Task The_full_size_architecture_generates_through_the_api()
    {
        using var http = _factory.CreateClient();

        var response = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt = "a lighthouse", model = "sd15", steps = 2, width = 64, height = 64 }), Ct);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await WaitAsync(http, response.Headers.Location!.ToString());
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        var png = await http.GetByteArrayAsync(job.GetProperty("images")[0].GetProperty("url").GetString(), Ct);
        Assert.StartsWith("a lighthouse\nSteps: 2,", Engine.Imaging.PngEncoder.ReadParameters(png), StringComparison.Ordinal);
    }

    private static async Task<JsonElement> WaitAsync(HttpClient http, string location)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
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
