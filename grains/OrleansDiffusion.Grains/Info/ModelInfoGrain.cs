using System.Collections.Concurrent;
using Orleans.Concurrency;
using OrleansDiffusion.Contracts;
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
        Task.FromResult<IReadOnlyList<ModelInfo>>([.. catalog.Models.Select(m => new ModelInfo(
            m.Id,
            m.Id == catalog.DefaultModelId,
            m.Folder.IsDemoModel,
            m.Hash,
            SchedulerFactory.Name(m.DefaultScheduler, false),
            m.CanEncodeImages,
            m.UNet.Inpainting,
            m.UNet.Lcm))]);

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
