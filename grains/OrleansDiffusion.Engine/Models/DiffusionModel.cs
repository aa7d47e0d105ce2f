using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// A model folder loaded into ONNX Runtime sessions. Loading is explicit (<see cref="Load"/>) and so is unloading
/// (<see cref="Dispose"/>, which releases the sessions' native memory). Sessions are safe to run concurrently.
/// </summary>
public sealed partial class DiffusionModel : IDisposable
{
    public const string InputIdsName = "input_ids";
    public const string LastHiddenStateName = "last_hidden_state";
    public const string LatentSampleName = "latent_sample";
    public const string LatentParametersName = "latent_parameters";
    public const string ImageSampleName = "sample";

    private readonly SessionOptions _sessionOptions;
    private bool _disposed;
    private FinalLayerNorm? _finalLayerNorm;

    private DiffusionModel(ModelFolder folder, SessionOptions options, ExecutionProvider provider, string? fallbackReason)
    {
        Folder = folder;
        _sessionOptions = options;
        Provider = provider;
        ProviderFallbackReason = fallbackReason;
        Tokenizer = LoadTokenizer(folder);
        var loaded = new List<OnnxComponent>();
        try
        {
            TextEncoder = Track(OnnxComponent.Load(folder.TextEncoderPath, options));
            UNet = Track(OnnxComponent.Load(folder.UNetPath, options));
            VaeDecoder = Track(OnnxComponent.Load(folder.VaeDecoderPath, options));
            VaeEncoder = folder.HasVaeEncoder ? Track(OnnxComponent.Load(folder.VaeEncoderPath, options)) : null;

            InputIds = TextEncoder.RequireInput(InputIdsName, 2);
            if (InputIds.ElementType is not (TensorElementType.Int32 or TensorElementType.Int64))
            {
                throw new InvalidModelException(TextEncoder.Path, $"{InputIds} must be int32 or int64.");
            }

            HiddenState = TextEncoder.FindOutput(LastHiddenStateName) ?? TextEncoder.Outputs[0];
            if (HiddenState.Rank != 3)
            {
                throw new InvalidModelException(TextEncoder.Path, $"output {HiddenState} must be [batch, sequence, hidden].");
            }

            UNetSignature.RequireFloat(TextEncoder, HiddenState);
            TextEncoderLayers = TextEncoderOutputs.LayerCount(TextEncoder.Outputs.Select(o => o.Name));
            for (var layer = 0; layer <= (TextEncoderLayers ?? -1); layer++)
            {
                UNetSignature.RequireFloat(TextEncoder, TextEncoder.RequireOutput(TextEncoderOutputs.HiddenStatesPrefix + layer, 3));
            }
            UNetSig = UNetSignature.Read(UNet);
            var hidden = HiddenState.Dimensions[2];
            var expected = UNetSig.EncoderHiddenStates.Dimensions[2];
            if (hidden > 0 && expected > 0 && hidden != expected)
            {
                throw new InvalidModelException(UNet.Path, $"encoder_hidden_states has hidden size {expected} but the text encoder produces {hidden}.");
            }

            DecoderInput = VaeDecoder.RequireInput(LatentSampleName, 4);
            DecoderOutput = VaeDecoder.FindOutput(ImageSampleName) ?? VaeDecoder.Outputs[0];
            UNetSignature.RequireFloat(VaeDecoder, DecoderInput);
            UNetSignature.RequireFloat(VaeDecoder, DecoderOutput);
            if (VaeEncoder is not null)
            {
                EncoderInput = VaeEncoder.RequireInput(ImageSampleName, 4);
                EncoderOutput = VaeEncoder.FindOutput(LatentSampleName) ?? VaeEncoder.FindOutput(LatentParametersName)
                    ?? throw new InvalidModelException(VaeEncoder.Path, $"has neither '{LatentSampleName}' nor '{LatentParametersName}' ({VaeEncoder.Describe()}).");
                UNetSignature.RequireFloat(VaeEncoder, EncoderInput);
                UNetSignature.RequireFloat(VaeEncoder, EncoderOutput);
            }
        }
        catch
        {
            foreach (var component in loaded)
            {
                component.Dispose();
            }

            options.Dispose();
            throw;
        }

        OnnxComponent Track(OnnxComponent component)
        {
            loaded.Add(component);
            return component;
        }
    }

    public ModelFolder Folder { get; }

    /// <summary>The provider the sessions actually run on.</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>Why CUDA was requested but not used; null otherwise.</summary>
    public string? ProviderFallbackReason { get; }

    public ClipTokenizer Tokenizer { get; }

    public OnnxComponent TextEncoder { get; }

    public OnnxComponent UNet { get; }

    public OnnxComponent VaeDecoder { get; }

    /// <summary>Null when the folder has no <c>vae_encoder/</c>: img2img is then unavailable.</summary>
    public OnnxComponent? VaeEncoder { get; }

    public TensorSpec InputIds { get; }

    public TensorSpec HiddenState { get; }

    /// <summary>
    /// The text encoder's layer count when it outputs every <c>hidden_states.N</c> (optimum exports with hidden states);
    /// null when it does not, and CLIP skip is then unavailable.
    /// </summary>
    public int? TextEncoderLayers { get; }

    /// <summary>The largest CLIP skip this model runs: its text encoder's layer count, or 1 (no skip).</summary>
    public int MaxClipSkip => TextEncoderLayers ?? 1;

    public UNetSignature UNetSig { get; }

    public TensorSpec DecoderInput { get; }

    public TensorSpec DecoderOutput { get; }

    public TensorSpec? EncoderInput { get; }

    /// <summary><c>latent_sample</c> (4 channels) or <c>latent_parameters</c> (mean and log-variance, 8 channels).</summary>
    public TensorSpec? EncoderOutput { get; }

    /// <summary>Loads every graph of <paramref name="folder"/> with the requested provider.</summary>
    /// <exception cref="InvalidModelException">A file is missing or a graph does not have a usable signature.</exception>
    public static DiffusionModel Load(ModelFolder folder, ExecutionOptions? execution = null, ILogger? logger = null)
    {
        execution ??= ExecutionOptions.Default;
        logger ??= NullLogger.Instance;
        var (options, provider, reason) = CreateSessionOptions(execution);
        if (reason is not null)
        {
            Log.CudaUnavailable(logger, reason);
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var model = new DiffusionModel(folder, options, provider, reason);
        Log.Loaded(logger, folder.Name, provider, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (folder.IsDemoModel)
        {
            Log.DemoModel(logger, folder.Root);
        }

        return model;
    }

    public static DiffusionModel Load(string folder, ExecutionOptions? execution = null, ILogger? logger = null) =>
        Load(ModelFolder.Open(folder), execution, logger);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        TextEncoder.Dispose();
        UNet.Dispose();
        VaeDecoder.Dispose();
        VaeEncoder?.Dispose();
        _sessionOptions.Dispose();
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>
    /// The output CLIP skip <paramref name="clipSkip"/> reads (AUTOMATIC1111's <c>hidden_states[-clipSkip]</c>):
    /// <c>last_hidden_state</c> for 1, else <c>hidden_states.(N + 1 - clipSkip)</c>, which still needs the final layer norm.
    /// </summary>
    internal TensorSpec ClipSkipOutput(int clipSkip) => clipSkip == 1
        ? HiddenState
        : TextEncoder.RequireOutput(TextEncoderOutputs.HiddenStatesPrefix + (TextEncoderLayers!.Value + 1 - clipSkip), 3);

    /// <summary>The text encoder's final layer norm, recovered once by <paramref name="fit"/> on first use.</summary>
    internal FinalLayerNorm GetFinalLayerNorm(Func<FinalLayerNorm> fit) => LazyInitializer.EnsureInitialized(ref _finalLayerNorm, fit);

    private static ClipTokenizer LoadTokenizer(ModelFolder folder)
    {
        try
        {
            return ClipTokenizer.Load(folder.TokenizerDirectory);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException(folder.TokenizerDirectory, e.Message, e);
        }
    }

    private static (SessionOptions Options, ExecutionProvider Provider, string? FallbackReason) CreateSessionOptions(ExecutionOptions execution)
    {
        var options = NewOptions(execution);
        if (execution.Provider != ExecutionProvider.Cuda)
        {
            return (options, ExecutionProvider.Cpu, null);
        }

        // GetAvailableProviders() lists CUDA even where it cannot load, so the only test is to append it:
        // the GPU package throws OnnxRuntimeException without CUDA libraries, the CPU package lacks the entry point.
        try
        {
            options.AppendExecutionProvider_CUDA(execution.CudaDeviceId);
            return (options, ExecutionProvider.Cuda, null);
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            options.Dispose();
            return (NewOptions(execution), ExecutionProvider.Cpu, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static SessionOptions NewOptions(ExecutionOptions execution) => new()
    {
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        IntraOpNumThreads = execution.IntraOpThreads,
        InterOpNumThreads = execution.InterOpThreads,
    };

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "CUDA was requested but cannot be used; running on CPU. Reason: {Reason}")]
        public static partial void CudaUnavailable(ILogger logger, string reason);

        [LoggerMessage(2, LogLevel.Information, "Loaded model {Model} on {Provider} in {Milliseconds:F0} ms")]
        public static partial void Loaded(ILogger logger, string model, ExecutionProvider provider, double milliseconds);

        [LoggerMessage(3, LogLevel.Warning, "Model {Path} is the OrleansDiffusion tiny DEMO model, not Stable Diffusion: its pictures are abstract colour fields. Point the service at a diffusers/optimum ONNX export to generate real images.")]
        public static partial void DemoModel(ILogger logger, string path);
    }
}
