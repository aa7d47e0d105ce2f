using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Models;

/// <summary>
/// The identity of a result: SHA-256 (hex) of the canonical request: model id and fingerprint, prompt and negative
/// prompt as written (their attention weights are part of the text), resolved seed, steps, guidance, resolved scheduler,
/// size, image count, CLIP skip, SDXL's size conditioning (resolved; SD specs have none, so their keys are as before),
/// for img2img the strength and the init image's content key, and for inpainting the mask's content key (the normalised
/// mask: its blur and inversion are in its content), the fill and the "only masked" box, and a hires fix's every field
/// (a spec without one keys as before). Two requests with the same key produce the same images.
/// </summary>
/// <remarks>
/// Version 2: prompts are read with AUTOMATIC1111's attention syntax and encoded beyond 75 tokens since then, so a
/// result computed before (version 1: the text cut at 75 tokens, brackets as words) is never served for the same text.
/// </remarks>
public static class RequestKey
{
    /// <param name="spec">A normalized spec.</param>
    /// <param name="modelHash">The fingerprint of the model's files.</param>
    /// <param name="scope">With <see cref="CacheScope.Key"/>, the API key's name: results are then shared by that key only.</param>
    public static string Compute(GenerationSpec spec, string modelHash, string? scope = null)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("v", "2");
            json.WriteString("model", spec.Model);
            json.WriteString("modelHash", modelHash);
            json.WriteString("prompt", spec.Prompt);
            json.WriteString("negativePrompt", spec.NegativePrompt);
            json.WriteNumber("seed", spec.Seed);
            json.WriteNumber("steps", spec.Steps);
            json.WriteString("guidance", spec.GuidanceScale.ToString("R", CultureInfo.InvariantCulture));
            json.WriteString("scheduler", spec.Scheduler);
            json.WriteNumber("width", spec.Width);
            json.WriteNumber("height", spec.Height);
            json.WriteNumber("n", spec.ImageCount);
            json.WriteNumber("clipSkip", spec.ClipSkip);
            if (spec is { OriginalSize: { } original, CropsCoordsTopLeft: { } crop, TargetSize: { } target })
            {
                // SDXL's time_ids, resolved: an explicit default and none are one request.
                json.WriteString("timeIds", string.Create(CultureInfo.InvariantCulture, $"{original.Height},{original.Width},{crop.Top},{crop.Left},{target.Height},{target.Width}"));
            }

            if (spec.Hires is { } hires)
            {
                // Resolved (the hires size) and as asked (scale or resize, which the infotext records).
                json.WriteString("hires", string.Create(
                    CultureInfo.InvariantCulture,
                    $"{hires.Width}x{hires.Height},{hires.Scale:R},{hires.ResizeWidth}x{hires.ResizeHeight},{hires.Steps},{hires.DenoisingStrength:R},{hires.Upscaler}"));
            }

            if (spec.InitImageKey is not null)
            {
                json.WriteString("initImage", spec.InitImageKey);
                json.WriteString("strength", spec.Strength.ToString("R", CultureInfo.InvariantCulture));
            }

            if (spec.MaskKey is not null)
            {
                json.WriteString("mask", spec.MaskKey);
                json.WriteString("inpaintFill", spec.InpaintFill);
                json.WriteBoolean("inpaintOnlyMasked", spec.InpaintOnlyMasked);
                json.WriteNumber("inpaintPadding", spec.InpaintPadding);
            }

            if (scope is not null)
            {
                json.WriteString("scope", scope);
            }

            json.WriteEndObject();
        }

        return Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()));
    }
}
