using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace OrleansDiffusion.Api.Tests.Tenancy;

/// <summary>
/// JSON endpoints take JSON only: a text/plain or form body (what any web page can send cross-site without a CORS
/// preflight) is refused with 415 in each API's own error shape, and starts nothing (issue 10).
/// </summary>
public sealed class JsonOnlyTests : IDisposable
{
    private readonly ApiFactory _factory = new(new() { ["Diffusion:Capacity"] = "0" });

    public void Dispose() => _factory.Dispose();

    [Theory]
    [InlineData("/v1/generations", """{"prompt":"from a web page"}""")]
    [InlineData("/v1/images/generations", """{"prompt":"from a web page"}""")]
    [InlineData("/sdapi/v1/txt2img", """{"prompt":"from a web page"}""")]
    [InlineData("/sdapi/v1/options", """{"sd_model_checkpoint":"demo"}""")]
    public async Task A_json_endpoint_refuses_a_text_plain_body(string path, string json)
    {
        using var http = _factory.CreateClient();
        foreach (var mediaType in new[] { "text/plain", "application/x-www-form-urlencoded" })
        {
            using var response = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, mediaType), TestContext.Current.CancellationToken);

            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            var shape = JsonDocument.Parse(body).RootElement;
            if (path.StartsWith("/sdapi", StringComparison.Ordinal))
            {
                Assert.True(shape.TryGetProperty("detail", out _), body); // A1111's {"error", "detail", ...}
            }
            else if (path.StartsWith("/v1/images", StringComparison.Ordinal))
            {
                Assert.True(shape.TryGetProperty("error", out _), body); // OpenAI's {"error": {...}}
            }
        }

        var stats = await _factory.Services.GetRequiredService<IGrainFactory>().GetGrain<Contracts.IWorkQueueGrain>(Contracts.IWorkQueueGrain.DefaultKey).GetStats();
        Assert.Equal(0, stats.Pending);
    }
}
