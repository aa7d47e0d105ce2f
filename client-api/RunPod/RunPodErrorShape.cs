using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;

namespace OrleansDiffusion.Api.RunPod;

/// <summary>Errors as RunPod's serverless API writes them: <c>{"error": "..."}</c> with the HTTP status.</summary>
public sealed class RunPodErrorShape : IErrorShape
{
    public static readonly RunPodErrorShape Instance = new();

    public Task WriteAsync(HttpContext http, string message, string code)
    {
        var options = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        return http.Response.WriteAsJsonAsync(new RunPodError(message), options, http.RequestAborted);
    }

    public static JsonHttpResult<RunPodError> Result(int statusCode, string message) =>
        TypedResults.Json(new RunPodError(message), statusCode: statusCode);
}
