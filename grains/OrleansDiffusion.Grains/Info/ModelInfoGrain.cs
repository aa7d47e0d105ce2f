using System.Collections.Concurrent;
using Orleans.Concurrency;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tokenization;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Grains.Info;

/// <summary>Answers model and tokenizer questions from the local silo's catalog (tokenizers load once per silo).</summary>
[StatelessWorker]
public sealed class ModelInfoGrain(ModelCatalog catalog) : Grain, IModelInfoGrain
{
    private static readonly ConcurrentDictionary<string, ClipTokenizer> Tokenizers = new(StringComparer.Ordinal);

    public Task<IReadOnlyList<ModelInfo>> GetModels() =>
        Task.FromResult<IReadOnlyList<ModelInfo>>([.. catalog.Models.Select(m => Describe(m, catalog.DefaultModelId))]);

    /// <summary>A model as the API shows it: its family, its defaults, its sizes and what it takes, from its folder.</summary>
    internal static ModelInfo Describe(CatalogModel model, string defaultModelId)
    {
        var folder = model.Folder;
        var rules = folder.SizeRules;
        var guided = !model.UNet.Lcm;
        return new ModelInfo(
            model.Id,
            model.Id == defaultModelId,
            folder.IsDemoModel,
            model.Hash,
            SchedulerFactory.Name(model.DefaultScheduler, false),
            model.CanEncodeImages,
            model.UNet.Inpainting,
            model.UNet.Lcm)
        {
            Family = ModelFamilies.Name(folder.Family),
            DemoNotice = folder.DemoNotice,
            Defaults = new ModelDefaults(rules.DefaultWidth, rules.DefaultHeight, folder.DefaultSteps, folder.DefaultGuidanceScale),
            Sizes = new ModelSizes(rules.Multiple, rules.MinSide, rules.MaxSide, rules.MaxPixels),
            Supports = new ModelSupport(folder.MaxClipSkip, NegativePrompt: guided, Guidance: guided, Img2Img: model.CanEncodeImages, SizeConditioning: folder.IsXL),
        };
    }

    public Task<TokenizeResult> Tokenize(string model, string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Length > ModelCatalog.MaxPromptLength)
        {
            throw new ArgumentException($"Prompt must be at most {ModelCatalog.MaxPromptLength} characters.", nameof(prompt));
        }

        // Refused here as a plain ArgumentException, which every caller answers as bad input.
        if (!PromptAttention.TryParse(prompt, out _, out var error))
        {
            throw new ArgumentException($"Prompt: {error}", nameof(prompt));
        }

        var entry = catalog.Get(string.IsNullOrEmpty(model) ? catalog.DefaultModelId : model);
        var tokenizer = Tokenizers.GetOrAdd(entry.Folder.TokenizerDirectory, ClipTokenizer.Load);
        var result = tokenizer.Tokenize(prompt);
        var chunked = tokenizer.Chunk(prompt);
        return Task.FromResult(new TokenizeResult(
            entry.Id,
            result.Ids,
            result.Tokens,
            result.ContentTokenCount,
            ClipTokenizer.MaxContentTokens,
            result.Truncated,
            [.. chunked.Chunks.Select(c => new TokenizedChunk(c.Ids, c.Weights))],
            chunked.TokenCount));
    }
}
