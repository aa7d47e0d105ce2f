using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Engine.Imaging;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>
/// <c>POST /v1/images/edits</c>: OpenAI's image edits, as its SDKs send them (multipart form data). One image
/// (<c>image</c>, or <c>image[]</c> with one file); an optional <c>mask</c> of the image's size whose transparent pixels
/// are the area to edit; without a mask, an image with transparent pixels is edited there (dall-e-2's rule), an opaque
/// one as a whole, as img2img. A masked edit repaints its area from noise (strength 1); what the mask keeps comes back
/// unchanged. <c>size</c> absent or <c>auto</c> is the image's size, scaled down to fit 1024 and to multiples of 8.
/// </summary>
public static partial class OpenAIImageEndpoints
{
    /// <summary>Strength of an edit without a mask (img2img of the whole image).</summary>
    private const double WholeImageStrength = 0.75;

    public static async Task<Results<Ok<OpenAIImagesResponse>, ServerSentEventsResult<object>, JsonHttpResult<OpenAIErrorResponse>>> EditAsync(
        HttpRequest http,
        [AsParameters] OpenAIImageServices services,
        ClaimsPrincipal user,
        CancellationToken cancellationToken)
    {
        static JsonHttpResult<OpenAIErrorResponse> Bad(string message, string? param, string code = "invalid_value", int status = StatusCodes.Status400BadRequest) =>
            OpenAIErrorShape.Result(status, message, param, code);

        // A form is what any web page can post to another site without asking: an API that trusts loopback callers
        // takes no form from a page of another origin.
        if (IsCrossSite(http))
        {
            return Bad("Cross-site form posts are refused; call this endpoint from a client, not from another site's page.", null, "cross_site", StatusCodes.Status403Forbidden);
        }

        if (!http.HasFormContentType)
        {
            return Bad("The request body must be multipart/form-data, with the image (and mask) as files.", null, "unsupported_media_type", StatusCodes.Status415UnsupportedMediaType);
        }

        IFormCollection form;
        try
        {
            form = await http.ReadFormAsync(cancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException)
        {
            return Bad($"The multipart body cannot be read: {e.Message}", null, "invalid_form");
        }

        var images = form.Files.GetFiles("image").Concat(form.Files.GetFiles("image[]")).ToList();
        if (images.Count == 0)
        {
            return Bad("Missing required parameter: 'image' (a file).", "image", "missing_required_parameter");
        }

        if (images.Count > 1)
        {
            return Bad($"This server edits one image per request, not {images.Count}.", "image", "unsupported_value");
        }

        var masks = form.Files.GetFiles("mask");
        if (masks.Count > 1)
        {
            return Bad("Send at most one mask.", "mask");
        }

        string? Text(string name) => form.TryGetValue(name, out var value) && !string.IsNullOrEmpty(value.ToString()) ? value.ToString() : null;
        JsonHttpResult<OpenAIErrorResponse> NotAnInteger(string field) => Bad($"Invalid '{field}': '{Text(field)}' is not an integer.", field);
        if (!TryParse(Text("n"), out int? n))
        {
            return NotAnInteger("n");
        }

        if (!TryParse(Text("steps"), out int? steps))
        {
            return NotAnInteger("steps");
        }

        if (!TryParse(Text("seed"), out long? seed))
        {
            return NotAnInteger("seed");
        }

        if (!TryParse(Text("output_compression"), out int? compression))
        {
            return NotAnInteger("output_compression");
        }

        if (!TryParse(Text("partial_images"), out int? partialImages))
        {
            return NotAnInteger("partial_images");
        }

        var request = new OpenAIImageRequest(
            Text("prompt"),
            Text("model"),
            n,
            Text("size"),
            Text("response_format"),
            Text("output_format"),
            Text("quality"),
            User: Text("user"),
            Background: Text("background"),
            Stream: Text("stream") is { } stream ? string.Equals(stream, "true", StringComparison.OrdinalIgnoreCase) : null,
            NegativePrompt: Text("negative_prompt"),
            Steps: steps,
            Seed: seed,
            OutputCompression: compression,
            PartialImages: partialImages);
        if (Check(request) is { } invalid)
        {
            return invalid;
        }

        byte[] image;
        byte[]? mask = null;
        (int? Width, int? Height) size;
        try
        {
            image = await ReadFileAsync(images[0], "image", cancellationToken);
            if (masks.Count == 1)
            {
                mask = await ReadFileAsync(masks[0], "mask", cancellationToken);
            }

            size = request.Size is null || request.Size.Equals("auto", StringComparison.OrdinalIgnoreCase)
                ? AutoSizeOf(MaskLoader.SizeOf(image, GenerationService.UploadLimits))
                : ParseSize(request.Size)!.Value;
        }
        catch (Exception e) when (ErrorFor(e, http.HttpContext) is { } error)
        {
            return error;
        }

        var (prompt, negative) = SplitPrompt(request.Prompt!, request.NegativePrompt);
        var served = await services.Grains.GetGrain<Contracts.IModelInfoGrain>(0).GetModels();
        var model = served.Any(m => string.Equals(m.Id, request.Model, StringComparison.Ordinal)) ? request.Model : null;
        var native = new CreateGenerationRequest(
            prompt,
            negative,
            size.Width,
            size.Height,
            request.Steps,
            Seed: request.Seed,
            N: request.N ?? 1,
            Model: model,
            InitImage: Convert.ToBase64String(image),
            Strength: WholeImageStrength,
            Mask: mask is null ? null : Convert.ToBase64String(mask));
        var errors = GenerationRequestValidator.Validate(native);
        if (errors.Count > 0)
        {
            var (field, messages) = errors.First();
            var param = field switch
            {
                "width" or "height" => "size",
                "init_image" => "image",
                _ => field,
            };
            return Bad($"Invalid '{param}': {messages[0]}", param);
        }

        // OpenAI's masks are transparent where they edit, and sharp; the masked area is painted afresh.
        var inpaint = new InpaintOptions
        {
            Mask = new MaskOptions { Convention = MaskConvention.TransparentRepaints },
            ImageAlphaIsMask = mask is null,
            StrengthWithMask = 1f,
        };
        return await RunAsync(http, services, native, inpaint, request.Prompt!, OutputOf(request, EditEvents), user, cancellationToken);
    }

    /// <summary>
    /// Whether a browser says the request comes from another site's page: <c>Sec-Fetch-Site</c> other than same-origin
    /// or none, or an <c>Origin</c> whose host is not the one the request was sent to. SDKs send neither header.
    /// </summary>
    private static bool IsCrossSite(HttpRequest http)
    {
        if (http.Headers["Sec-Fetch-Site"].ToString() is { Length: > 0 } site && site is not ("same-origin" or "none"))
        {
            return true;
        }

        var origin = http.Headers.Origin.ToString();
        return origin.Length > 0
            && (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || !string.Equals(uri.Authority, http.Host.Value, StringComparison.OrdinalIgnoreCase));
    }

    private static bool TryParse<T>(string? text, out T? value)
        where T : struct, IParsable<T>
    {
        value = null;
        if (text is null)
        {
            return true;
        }

        if (T.TryParse(text, CultureInfo.InvariantCulture, out var parsed))
        {
            value = parsed;
            return true;
        }

        return false;
    }

    /// <summary>An uploaded file, read whole within the upload limit (a larger one is 413 before it is read).</summary>
    private static async Task<byte[]> ReadFileAsync(IFormFile file, string name, CancellationToken cancellationToken)
    {
        var limit = GenerationService.UploadLimits.MaxBytes;
        if (file.Length > limit)
        {
            var problem = new InvalidImageException(InvalidImageReason.TooLarge, $"The {name} is {file.Length} bytes; at most {limit} are accepted.");
            throw name == "mask" ? new InvalidMaskException(problem) : problem;
        }

        await using var stream = file.OpenReadStream();
        using var buffer = new MemoryStream((int)file.Length);
        await stream.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    /// <summary>The image's own size, scaled down to fit the largest side and to multiples of 8 (at least the smallest side).</summary>
    private static (int Width, int Height) AutoSizeOf((int Width, int Height) image)
    {
        var scale = Math.Min(1.0, (double)GenerationRequestValidator.MaxSide / Math.Max(image.Width, image.Height));
        int Side(int pixels) => Math.Max(GenerationRequestValidator.MinSide, (int)(pixels * scale) / 8 * 8);
        return (Side(image.Width), Side(image.Height));
    }
}
