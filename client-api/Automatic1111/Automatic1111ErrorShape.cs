using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;

namespace OrleansDiffusion.Api.Automatic1111;

/// <summary>
/// Errors as AUTOMATIC1111's API writes them for an <c>HTTPException</c>:
/// <c>{"error": "HTTPException", "detail": "Sampler not found", "body": "", "errors": "404: Sampler not found"}</c>.
/// </summary>
public sealed class Automatic1111ErrorShape : IErrorShape
{
    public static readonly Automatic1111ErrorShape Instance = new();

    public Task WriteAsync(HttpContext http, string message, string code)
    {
        var options = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        return http.Response.WriteAsJsonAsync(Body(http.Response.StatusCode, message), options, http.RequestAborted);
    }

    public static JsonHttpResult<Automatic1111Error> Result(int statusCode, string detail) =>
        TypedResults.Json(Body(statusCode, detail), statusCode: statusCode);

    private static Automatic1111Error Body(int statusCode, string detail) =>
        new("HTTPException", detail, string.Empty, string.Create(CultureInfo.InvariantCulture, $"{statusCode}: {detail}"));
}
