using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Storage;

namespace OrleansDiffusion.Api.Tests.Native;

/// <summary>
/// An image store that cannot be reached (Azure Blob on a port nobody listens on, no retries): an init image is uploaded
/// there, so that request is refused as a transient fault (503 with Retry-After, in each API's error shape); from that
/// failure on, the store counts as down and every API refuses new work the same way, and no job is left behind.
/// </summary>
public sealed class StorageOutageApiTests : IDisposable
{
    // Azurite's well-known development account key; the endpoint is a closed port.
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly ApiFactory _factory = new(new Dictionary<string, string>
    {
        ["Diffusion:ImageStore:Provider"] = "AzureBlob",
        ["Diffusion:ImageStore:ConnectionString"] = string.Create(
            CultureInfo.InvariantCulture,
            $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};BlobEndpoint=http://127.0.0.1:{ApiFactory.FreePort()}/devstoreaccount1;"),
        ["Diffusion:ImageStore:MaxRetries"] = "0",
    });

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task An_unreachable_image_store_answers_503_with_retry_after_in_each_api_and_leaves_no_job()
    {
        using var http = _factory.CreateClient();

        // The upload meets the outage first; the requests after it are refused without trying the store.
        var img2img = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt = "no storage", steps = 4, width = 64, height = 64, init_image = TinyPngBase64() }), Ct);
        var native = await http.PostAsync("/v1/generations", JsonContent.Create(new { prompt = "no storage", steps = 4, width = 64, height = 64 }), Ct);
        var openAI = await http.PostAsync("/v1/images/generations", JsonContent.Create(new { prompt = "no storage", size = "64x64", response_format = "b64_json" }), Ct);
        var automatic1111 = await http.PostAsync("/sdapi/v1/txt2img", JsonContent.Create(new { prompt = "no storage", steps = 4, width = 64, height = 64 }), Ct);

        foreach (var response in new[] { native, img2img, openAI, automatic1111 })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
        }

        Assert.Equal("application/problem+json", native.Content.Headers.ContentType?.MediaType);
        Assert.Equal("storage_unavailable", (await openAI.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error").GetProperty("code").GetString());

        // Straight to a job grain: the fault crosses the grain boundary as itself, and the job does not exist after it.
        var job = _factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IGenerationJobGrain>(Guid.NewGuid());
        await Assert.ThrowsAsync<ImageStoreUnavailableException>(() => job.Submit(new GenerationSpec { Prompt = "no storage", Steps = 4, Width = 64, Height = 64 }, "anonymous", IKeyQuotaGrain.Unlimited));
        Assert.Equal(JobStatus.None, (await job.GetSnapshot()).Status);
    }

    private static string TinyPngBase64()
    {
        var chw = new float[3 * 64 * 64];
        return Convert.ToBase64String(OrleansDiffusion.Engine.Imaging.PngEncoder.Encode(chw, 64, 64, parameters: null));
    }
}
