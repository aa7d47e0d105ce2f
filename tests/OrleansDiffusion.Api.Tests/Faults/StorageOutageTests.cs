using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace OrleansDiffusion.Api.Tests.Faults;

/// <summary>
/// Grain storage goes away for a while (issue 10): a submission answers 503 with Retry-After promptly, in the error
/// shape of the API it came through, and every job accepted before comes through once storage is back.
/// </summary>
public sealed class StorageOutageTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(3 + 4);

    [Fact]
    public async Task During_a_storage_outage_submissions_answer_503_with_Retry_After_in_each_APIs_shape_and_no_accepted_job_is_lost()
    {
        await using var cluster = await FaultCluster.StartAsync(2, new() { ["Diffusion:Api:ClusterCallTimeout"] = "00:00:03" });
        using var http = cluster.Api.CreateClient();
        var ct = TestContext.Current.CancellationToken;
        var accepted = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            // Storage is up: a submission is accepted. On a starved machine the first calls (tables created, grains
            // activated) can outlast the 3 s cluster-call timeout and answer 503; a client retries those, so do this.
            var body = $$"""{"prompt":"before the outage {{i}}","steps":20,"width":64,"height":64,"seed":{{i}}}""";
            var response = await http.PostAsync("/v1/generations", Json(body), ct);
            for (var retry = 0; retry < 5 && response.StatusCode == HttpStatusCode.ServiceUnavailable; retry++)
            {
                Assert.NotNull(response.Headers.RetryAfter);
                response.Dispose();
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                response = await http.PostAsync("/v1/generations", Json(body), ct);
            }

            using (response)
            {
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                accepted.Add((await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid());
            }
        }

        await cluster.Storage.StopAsync(ct);
        var native = await Answer.TimeAsync(http, Post("/v1/generations", """{"prompt":"native, during the outage","steps":4,"width":64,"height":64,"seed":7}"""), TimeSpan.FromSeconds(40));
        var openAI = await Answer.TimeAsync(http, Post("/v1/images/generations", """{"prompt":"openai, during the outage","size":"64x64","steps":4,"seed":7}"""), TimeSpan.FromSeconds(40));
        var a1111 = await Answer.TimeAsync(http, Post("/sdapi/v1/txt2img", """{"prompt":"a1111, during the outage","steps":4,"width":64,"height":64,"seed":7}"""), TimeSpan.FromSeconds(40));
        await cluster.Storage.StartAsync(ct);
        TestContext.Current.TestOutputHelper?.WriteLine($"{native}\n{openAI}\n{a1111}");

        foreach (var answer in new[] { native, openAI, a1111 })
        {
            Assert.True(answer.Status == HttpStatusCode.ServiceUnavailable, answer.ToString());
            Assert.True(answer.RetryAfter > TimeSpan.Zero, answer.ToString());
            Assert.True(answer.Elapsed <= Prompt, answer.ToString());
        }

        // Each in its own API's error shape.
        Assert.Equal("application/problem+json", native.ContentType);
        var problem = JsonDocument.Parse(native.Body).RootElement;
        Assert.Equal(503, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        var error = JsonDocument.Parse(openAI.Body).RootElement.GetProperty("error");
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("code").GetString()));
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        var a1111Error = JsonDocument.Parse(a1111.Body).RootElement;
        Assert.Equal("HTTPException", a1111Error.GetProperty("error").GetString());
        Assert.StartsWith("503: ", a1111Error.GetProperty("errors").GetString(), StringComparison.Ordinal);

        // Storage is back: every job accepted before the outage comes through.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        foreach (var id in accepted)
        {
            while (true)
            {
                using var response = await http.GetAsync($"/v1/generations/{id}", ct);
                var status = response.StatusCode == HttpStatusCode.OK
                    ? (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("status").GetString()
                    : null;
                if (status is "succeeded" or "failed" or "cancelled")
                {
                    Assert.Equal("succeeded", status);
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, $"job {id} not finished: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
                await Task.Delay(500, ct);
            }
        }
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static HttpRequestMessage Post(string path, string json) => new(HttpMethod.Post, path) { Content = Json(json) };
}
