using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tokenization;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Models;

/// <summary>
/// The models this silo serves, checked at start, and the rules that turn a client's spec into a canonical one
/// (default model and scheduler resolved, every field within bounds). Every silo of a cluster is configured alike.
/// </summary>
public sealed partial class ModelCatalog
{
    public const string DemoModelId = "demo";
    public const int MaxPromptLength = 4000;

    private readonly Dictionary<string, CatalogModel> _models;
    private readonly CacheScope _cacheScope;

    public ModelCatalog(IOptions<DiffusionOptions> options, ILogger<ModelCatalog> logger)
        : this(options.Value, logger)
    {
    }

    public ModelCatalog(DiffusionOptions options, ILogger logger)
    {
        Limits = GenerationLimits.Default;
        _cacheScope = options.Cache.Scope;
        var configured = options.Models;
        if (configured.Count == 0)
        {
            var directory = options.DemoModelDirectory ?? DemoModelWriter.DefaultDirectory;
            DemoModelWriter.Ensure(directory);
            Log.DemoModel(logger, directory);
            configured = [new ModelOptions { Id = DemoModelId, Path = directory }];
        }

        _models = new Dictionary<string, CatalogModel>(StringComparer.Ordinal);
        foreach (var model in configured)
        {
            var folder = ModelFolder.Open(model.Path);
            var unet = UNetKind.Read(folder.UNetPath);
            if (!_models.TryAdd(model.Id, new CatalogModel(model.Id, folder, ModelFingerprint.Compute(folder.Root), unet)))
            {
                throw new OptionsValidationException(DiffusionOptions.SectionName, typeof(DiffusionOptions), [$"Model id '{model.Id}' is configured twice."]);
            }

            Log.ModelServed(logger, model.Id, unet.Inpainting ? "inpainting" : "plain", unet.Lcm, folder.HasVaeEncoder);
        }

        DefaultModelId = options.DefaultModel ?? configured[0].Id;
        if (!_models.ContainsKey(DefaultModelId))
        {
            throw new OptionsValidationException(DiffusionOptions.SectionName, typeof(DiffusionOptions), [$"DefaultModel '{DefaultModelId}' is not one of the configured models."]);
        }
    }

    public string DefaultModelId { get; }

    public GenerationLimits Limits { get; }

    public IReadOnlyCollection<CatalogModel> Models => _models.Values;

    public CatalogModel Get(string id) =>
        _models.TryGetValue(id, out var model)
            ? model
            : throw new ArgumentException($"Unknown model '{id}'. Known models: {string.Join(", ", _models.Keys)}.", nameof(id));

    /// <summary>
    /// The canonical form of <paramref name="spec"/>: model and scheduler resolved, all fields checked.
    /// Throws <see cref="ArgumentException"/> naming the field that is out of bounds.
    /// </summary>
    public GenerationSpec Normalize(GenerationSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var model = Get(string.IsNullOrEmpty(spec.Model) ? DefaultModelId : spec.Model);
        if (spec.Prompt is null || spec.Prompt.Length > MaxPromptLength)
        {
            throw new ArgumentException($"Prompt must be at most {MaxPromptLength} characters.", nameof(spec.Prompt));
        }

        if (spec.NegativePrompt is null || spec.NegativePrompt.Length > MaxPromptLength)
        {
            throw new ArgumentException($"NegativePrompt must be at most {MaxPromptLength} characters.", nameof(spec.NegativePrompt));
        }

        CheckPrompt(spec.Prompt, "Prompt");
        CheckPrompt(spec.NegativePrompt, "NegativePrompt");
        if (spec.ClipSkip < 1 || spec.ClipSkip > model.Folder.MaxClipSkip)
        {
            throw new ArgumentException(model.Folder.IsXL
                ? $"ClipSkip must be between 1 and {model.Folder.MaxClipSkip} for SDXL model '{model.Id}' (N reads hidden_states[-(N + 1)] of both text encoders), not {spec.ClipSkip}."
                : model.Folder.TextEncoderLayers is { } layers
                ? $"ClipSkip must be between 1 and {layers} (the layers of model '{model.Id}''s text encoder), not {spec.ClipSkip}."
                : $"ClipSkip {spec.ClipSkip} needs a text encoder export that outputs its hidden states (hidden_states.0 ... hidden_states.N); model '{model.Id}' has none, so only 1 (no skip) is available.",
                nameof(spec.ClipSkip));
        }

        spec = WithModelSize(spec, model);

        SchedulerKind kind;
        bool karras;
        if (string.IsNullOrEmpty(spec.Scheduler))
        {
            kind = model.DefaultScheduler;
            karras = SchedulerFactory.ConfigKarras(kind, model.Folder.SchedulerConfig);
        }
        else if (!SchedulerFactory.TryParse(spec.Scheduler, out kind, out karras))
        {
            throw new ArgumentException($"Unknown scheduler '{spec.Scheduler}'. Known: {string.Join(", ", SchedulerFactory.Names)}.", nameof(spec.Scheduler));
        }

        if (karras && !SchedulerFactory.SupportsKarras(kind))
        {
            throw new ArgumentException($"Scheduler '{spec.Scheduler}' has no Karras variant.", nameof(spec.Scheduler));
        }

        var normalized = spec with { Model = model.Id, Scheduler = SchedulerFactory.Name(kind, karras) };
        ToEngineRequest(normalized, initImage: null).Validate(Limits);
        try
        {
            // What the model's scheduler_config.json allows this scheduler (PNDM's Runge-Kutta warm-up needs 4 steps,
            // LCM at most original_inference_steps, a key the engine does not implement is refused): a 400 now, not a
            // failed job later.
            SchedulerFactory.Validate(kind, model.Folder.SchedulerConfig, karras, normalized.Steps);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(
                $"Scheduler '{normalized.Scheduler}' cannot run {normalized.Steps} steps on model '{model.Id}': {e.Message}", nameof(spec.Scheduler), e);
        }
        if (normalized.InitImageKey is not null)
        {
            if (!float.IsFinite(normalized.Strength) || normalized.Strength <= 0 || normalized.Strength > 1)
            {
                throw new ArgumentException($"Strength must be in (0, 1], not {normalized.Strength}.", nameof(spec.Strength));
            }

            if ((int)(normalized.Steps * normalized.Strength) < 1)
            {
                throw new ArgumentException($"Strength {normalized.Strength} of {normalized.Steps} steps runs no step.", nameof(spec.Strength));
            }
        }
        else
        {
            normalized = normalized with { Strength = 0.75f };
        }

        return NormalizeInpainting(NormalizeHires(normalized, model, kind, karras), model);
    }

    /// <summary>
    /// A hires fix: txt2img only, a latent upscaler by A1111's name, a hires size the model can generate and a second-pass
    /// schedule its scheduler can run; its size is resolved, and a resize makes the scale moot (0), so that the two ways
    /// of asking each have one key.
    /// </summary>
    private GenerationSpec NormalizeHires(GenerationSpec spec, CatalogModel model, SchedulerKind kind, bool karras)
    {
        if (spec.Hires is not { } hires)
        {
            return spec;
        }

        if (spec.InitImageKey is not null)
        {
            throw new ArgumentException("Hires is txt2img's second pass; an img2img or inpainting request cannot take it.", nameof(spec.Hires));
        }

        if (!LatentUpscalers.TryParse(hires.Upscaler, out _))
        {
            throw new ArgumentException(LatentUpscalers.Unsupported(hires.Upscaler), $"{nameof(spec.Hires)}.{nameof(hires.Upscaler)}");
        }

        var engine = ToEngineHires(hires)!;
        engine.Validate(Limits, spec.Width, spec.Height, spec.Steps);
        var plan = engine.Plan(spec.Width, spec.Height);
        if (model.Folder.SizeRules.Problem(plan.Width, plan.Height) is { } problem)
        {
            throw new ArgumentException(
                $"Model '{model.Id}' ({ModelFamilies.Name(model.Folder.Family)}) cannot generate the hires size: {problem}.",
                $"{nameof(spec.Hires)}.{(hires.ResizeWidth != 0 || hires.ResizeHeight != 0 ? nameof(hires.ResizeWidth) : nameof(hires.Scale))}");
        }

        var (scheduleSteps, _) = engine.Schedule(spec.Steps);
        try
        {
            SchedulerFactory.Validate(kind, model.Folder.SchedulerConfig, karras, scheduleSteps);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(
                $"The hires pass runs {engine.StepsAfter(spec.Steps)} steps of a {scheduleSteps}-step schedule (steps / denoising strength), which scheduler '{spec.Scheduler}' cannot on model '{model.Id}': {e.Message}",
                $"{nameof(spec.Hires)}.{nameof(hires.DenoisingStrength)}",
                e);
        }

        return spec with
        {
            Hires = hires with
            {
                Scale = hires.ResizeWidth != 0 || hires.ResizeHeight != 0 ? 0f : hires.Scale,
                Width = plan.Width,
                Height = plan.Height,
            },
        };
    }

    /// <summary>
    /// A mask needs an init image and a known fill; without a mask the inpainting fields take their defaults, so that
    /// they cannot split the cache. Images to encode need the model's VAE encoder, which an inpainting UNet always needs.
    /// </summary>
    private static GenerationSpec NormalizeInpainting(GenerationSpec spec, CatalogModel model)
    {
        if (spec.MaskKey is null)
        {
            spec = spec with { InpaintFill = InpaintFills.Name(InpaintFill.Original), InpaintOnlyMasked = false, InpaintPadding = 0 };
        }
        else
        {
            if (spec.InitImageKey is null)
            {
                throw new ArgumentException("A mask needs an init image to mask.", nameof(spec.MaskKey));
            }

            if (!InpaintFills.TryParse(spec.InpaintFill, out _))
            {
                throw new ArgumentException($"Unknown inpaint fill '{spec.InpaintFill}'. Known: {string.Join(", ", InpaintFills.Names)}.", nameof(spec.InpaintFill));
            }

            var largest = Math.Max(spec.Width, spec.Height);
            if (spec.InpaintPadding < 0 || spec.InpaintPadding > largest)
            {
                throw new ArgumentException($"InpaintPadding must be between 0 and {largest}, not {spec.InpaintPadding}.", nameof(spec.InpaintPadding));
            }

            if (!spec.InpaintOnlyMasked)
            {
                spec = spec with { InpaintPadding = 0 };
            }
        }

        if ((spec.InitImageKey is not null || model.UNet.Inpainting) && !model.CanEncodeImages)
        {
            throw new ArgumentException(
                $"Model '{model.Id}' has no VAE encoder (vae_encoder/): it cannot take init images or masks{(model.UNet.Inpainting ? ", nor run its inpainting UNet" : string.Empty)}.",
                nameof(spec.InitImageKey));
        }

        return spec;
    }

    /// <summary>
    /// The spec with the model's own size where it names none (0), checked against the sizes the model can generate, and
    /// SDXL's size conditioning resolved (diffusers' defaults: both sizes the generated one, no crop) or, for a model
    /// without it, refused.
    /// </summary>
    private static GenerationSpec WithModelSize(GenerationSpec spec, CatalogModel model)
    {
        var rules = model.Folder.SizeRules;
        spec = spec with
        {
            Width = spec.Width == 0 ? rules.DefaultWidth : spec.Width,
            Height = spec.Height == 0 ? rules.DefaultHeight : spec.Height,
        };
        if (rules.Problem(spec.Width, spec.Height) is { } problem)
        {
            throw new ArgumentException(
                $"Model '{model.Id}' ({ModelFamilies.Name(model.Folder.Family)}) cannot generate {problem}; its own size is {rules.DefaultWidth}x{rules.DefaultHeight}.",
                spec.Width % rules.Multiple != 0 || spec.Width < rules.MinSide || spec.Width > rules.MaxSide ? nameof(spec.Width) : nameof(spec.Height));
        }

        if (!model.Folder.IsXL)
        {
            if (spec.OriginalSize is not null || spec.CropsCoordsTopLeft is not null || spec.TargetSize is not null)
            {
                throw new ArgumentException(
                    $"original_size, crops_coords_top_left and target_size are SDXL's size conditioning; model '{model.Id}' ({ModelFamilies.Name(model.Folder.Family)}) has none.",
                    spec.OriginalSize is not null ? nameof(spec.OriginalSize) : spec.CropsCoordsTopLeft is not null ? nameof(spec.CropsCoordsTopLeft) : nameof(spec.TargetSize));
            }

            return spec;
        }

        return spec with
        {
            OriginalSize = spec.OriginalSize ?? new PixelSize(spec.Height, spec.Width),
            CropsCoordsTopLeft = spec.CropsCoordsTopLeft ?? new CropOrigin(0, 0),
            TargetSize = spec.TargetSize ?? new PixelSize(spec.Height, spec.Width),
        };
    }

    /// <summary>
    /// The request key of a normalized spec submitted by <paramref name="apiKey"/>: the same for every key with
    /// <see cref="CacheScope.Global"/> (the default), one per key with <see cref="CacheScope.Key"/>.
    /// </summary>
    public string KeyOf(GenerationSpec normalized, string apiKey) =>
        RequestKey.Compute(normalized, Get(normalized.Model).Hash, _cacheScope == CacheScope.Key ? apiKey : null);

    /// <summary>The engine request for a normalized spec, with its init image and mask read from the image store.</summary>
    public static GenerationRequest ToEngineRequest(GenerationSpec spec, float[]? initImage, int previewInterval = 0, float[]? mask = null)
    {
        SchedulerFactory.TryParse(spec.Scheduler, out var kind, out var karras);
        InpaintFills.TryParse(spec.InpaintFill, out var fill);
        return new GenerationRequest
        {
            Prompt = spec.Prompt,
            NegativePrompt = spec.NegativePrompt,
            Steps = spec.Steps,
            GuidanceScale = spec.GuidanceScale,
            Seed = spec.Seed,
            Width = spec.Width,
            Height = spec.Height,
            Scheduler = kind,
            KarrasSigmas = karras,
            ImageCount = spec.ImageCount,
            InitImage = initImage,
            Strength = spec.Strength,
            PreviewInterval = previewInterval,
            ClipSkip = spec.ClipSkip,
            Mask = mask,
            InpaintFill = fill,
            InpaintOnlyMasked = spec.InpaintOnlyMasked,
            InpaintPadding = spec.InpaintPadding,
            SizeConditioning = spec is { OriginalSize: { } original, CropsCoordsTopLeft: { } crop, TargetSize: { } target }
                ? new SizeConditioning(original.Height, original.Width, crop.Top, crop.Left, target.Height, target.Width)
                : null,
            Hires = ToEngineHires(spec.Hires),
        };
    }

    /// <summary>The engine's hires fix for a spec's; an unknown upscaler name is left to validation (it is refused there).</summary>
    private static HiresFix? ToEngineHires(HiresSpec? hires)
    {
        if (hires is null)
        {
            return null;
        }

        LatentUpscalers.TryParse(hires.Upscaler, out var mode);
        return new HiresFix
        {
            Scale = hires.Scale,
            ResizeWidth = hires.ResizeWidth,
            ResizeHeight = hires.ResizeHeight,
            Steps = hires.Steps,
            Strength = hires.DenoisingStrength,
            Upscaler = mode,
        };
    }

    /// <summary>Refuses a prompt AUTOMATIC1111's attention syntax cannot read, before it is queued.</summary>
    private static void CheckPrompt(string prompt, string field)
    {
        if (!PromptAttention.TryParse(prompt, out _, out var error))
        {
            throw new ArgumentException($"{field}: {error}", field);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "No model is configured: serving the tiny DEMO model from {Directory} (model id 'demo'). It is NOT Stable Diffusion; it paints abstract colour fields. Configure Diffusion:Models:0:Id and Diffusion:Models:0:Path with a diffusers/optimum ONNX export folder to serve real images.")]
        public static partial void DemoModel(ILogger logger, string directory);

        [LoggerMessage(2, LogLevel.Information, "Model {Model}: {UNet} UNet, LCM {Lcm}, VAE encoder (init images and masks) {VaeEncoder}")]
        public static partial void ModelServed(ILogger logger, string model, string unet, bool lcm, bool vaeEncoder);
    }
}
