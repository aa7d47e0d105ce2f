using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>Errors as OpenAI writes them: <c>{"error": {"message", "type", "param", "code"}}</c> with the HTTP status.</summary>
public sealed class OpenAIErrorShape : IErrorShape
{
    public static readonly OpenAIErrorShape Instance = new();

    public Task WriteAsync(HttpContext http, string message, string code)
    {
        var options = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        return http.Response.WriteAsJsonAsync(Body(http.Response.StatusCode, message, null, code), options, http.RequestAborted);
    }

    public static JsonHttpResult<OpenAIErrorResponse> Result(int statusCode, string message, string? param = null, string? code = null) =>
        TypedResults.Json(Body(statusCode, message, param, code), statusCode: statusCode);

    /// <summary>The error body alone, for an error that a stream of server-sent events reports once it has begun.</summary>
    public static OpenAIErrorResponse Body(int statusCode, string message, string? param, string? code) =>
        new(new OpenAIError(message, TypeOf(statusCode), param, code));

    // The types OpenAI uses: a client error, a rate limit, or its own failure.
    private static string TypeOf(int statusCode) => statusCode switch
    {
        StatusCodes.Status429TooManyRequests => "rate_limit_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };
}
