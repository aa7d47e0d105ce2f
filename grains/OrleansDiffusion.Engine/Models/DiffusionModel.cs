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

    private DiffusionModel(ModelFolder folder, SessionOptions options, ExecutionProvider provider, string? fallbackReason, bool bindAsDevice)
    {
        Folder = folder;
        UNetBinding = provider == ExecutionProvider.Cuda ? UNetBindingMode.Device : bindAsDevice ? UNetBindingMode.EmulatedDevice : UNetBindingMode.Host;
        _sessionOptions = options;
        Provider = provider;
        ProviderFallbackReason = fallbackReason;
        Tokenizer = LoadTokenizer(folder.TokenizerDirectory);
        Tokenizer2 = folder.IsXL ? LoadTokenizer(folder.Tokenizer2Directory) : null;
        var loaded = new List<OnnxComponent>();
        try
        {
            TextEncoder = Track(OnnxComponent.Load(folder.TextEncoderPath, options));
            TextEncoder2 = folder.IsXL ? Track(OnnxComponent.Load(folder.TextEncoder2Path, options)) : null;
            UNet = Track(OnnxComponent.Load(folder.UNetPath, options));

            // diffusers runs the SDXL VAE in float32 unless its config clears force_upcast (the fp16-fix VAE): its
            // activations overflow float16. A float16 export is rewritten to float32 for that.
            var upcastVae = folder.IsXL && folder.VaeForceUpcast;
            VaeDecoder = Track(OnnxComponent.Load(folder.VaeDecoderPath, options, upcastVae));
            VaeEncoder = folder.HasVaeEncoder ? Track(OnnxComponent.Load(folder.VaeEncoderPath, options, upcastVae)) : null;

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
            if (TextEncoder2 is not null)
            {
                (InputIds2, TextEncoder2Layers, TextEmbeds) = ReadSecondTextEncoder(TextEncoder2);
                var hidden2 = TextEncoder2.RequireOutput(TextEncoderOutputs.HiddenStatesPrefix + "0", 3).Dimensions[2];
                hidden = hidden > 0 && hidden2 > 0 ? hidden + hidden2 : -1;
                if (TextEncoderLayers is null)
                {
                    throw new InvalidModelException(TextEncoder.Path, "an SDXL text encoder must output its hidden states: SDXL conditions on the penultimate layer.");
                }

                if (UNetSig.TextEmbeds is null)
                {
                    throw new InvalidModelException(UNet.Path, $"an SDXL export's UNet takes {ModelFolder.TextEmbedsName} and {ModelFolder.TimeIdsName}; this one does not ({UNet.Describe()}).");
                }

                var pooled = TextEmbeds!.Dimensions[1];
                var pooledExpected = UNetSig.TextEmbeds.Dimensions[1];
                if (pooled > 0 && pooledExpected > 0 && pooled != pooledExpected)
                {
                    throw new InvalidModelException(UNet.Path, $"{ModelFolder.TextEmbedsName} has size {pooledExpected} but the second text encoder produces {pooled}.");
                }
            }
            else if (UNetSig.TextEmbeds is not null)
            {
                throw new InvalidModelException(UNet.Path, $"this UNet takes SDXL's {ModelFolder.TextEmbedsName} and {ModelFolder.TimeIdsName}, but the folder has no text_encoder_2/ to produce them.");
            }

            var expected = UNetSig.EncoderHiddenStates.Dimensions[2];
            if (hidden > 0 && expected > 0 && hidden != expected)
            {
                throw new InvalidModelException(UNet.Path, $"encoder_hidden_states has hidden size {expected} but the text encoder{(TextEncoder2 is null ? string.Empty : "s")} produce{(TextEncoder2 is null ? "s" : string.Empty)} {hidden}.");
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

    /// <summary>How the denoising loop binds the UNet's inputs and outputs: in place on the CPU, rebound per step on a device.</summary>
    internal UNetBindingMode UNetBinding { get; }

    /// <summary>Why CUDA was requested but not used; null otherwise.</summary>
    public string? ProviderFallbackReason { get; }

    public ClipTokenizer Tokenizer { get; }

    /// <summary>SDXL's second tokenizer (<c>tokenizer_2/</c>, padded with <c>!</c>); null for SD 1.x/2.x.</summary>
    public ClipTokenizer? Tokenizer2 { get; }

    public OnnxComponent TextEncoder { get; }

    /// <summary>SDXL's second text encoder (<c>text_encoder_2/</c>); null for SD 1.x/2.x.</summary>
    public OnnxComponent? TextEncoder2 { get; }

    /// <summary>The second text encoder's <c>input_ids</c> (int64 in optimum's and Olive's SDXL exports).</summary>
    public TensorSpec? InputIds2 { get; }

    /// <summary>The second text encoder's layer count.</summary>
    public int? TextEncoder2Layers { get; }

    /// <summary>The second text encoder's <c>text_embeds</c>: the pooled, projected text the SDXL UNet takes.</summary>
    public TensorSpec? TextEmbeds { get; }

    /// <summary>Whether this is an SDXL-shaped model (two text encoders, <c>text_embeds</c> and <c>time_ids</c>).</summary>
    public bool IsXL => TextEncoder2 is not null;

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

    /// <summary>
    /// The largest CLIP skip this model runs: its text encoder's layer count, or 1 (no skip); for SDXL the smaller of its
    /// encoders' layer counts.
    /// </summary>
    public int MaxClipSkip => IsXL ? Math.Min(TextEncoderLayers!.Value, TextEncoder2Layers!.Value) : TextEncoderLayers ?? 1;

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
        var model = new DiffusionModel(folder, options, provider, reason, execution.BindAsDevice);
        Log.Loaded(logger, folder.Name, provider, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (folder.IsDemoModel)
        {
            Log.DemoModel(logger, folder.Root, folder.DemoNotice);
        }

        if (model.VaeDecoder.IsUpcast)
        {
            Log.VaeUpcast(logger, folder.Name);
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
        TextEncoder2?.Dispose();
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

    /// <summary>
    /// The output SDXL reads with CLIP skip <paramref name="clipSkip"/> from its first (<paramref name="second"/> false) or
    /// second text encoder: <c>hidden_states[-(clipSkip + 1)]</c>, no final layer norm; 1 is SDXL's own penultimate layer.
    /// </summary>
    internal TensorSpec XLHiddenOutput(bool second, int clipSkip)
    {
        var (encoder, layers) = second ? (TextEncoder2!, TextEncoder2Layers!.Value) : (TextEncoder, TextEncoderLayers!.Value);
        return encoder.RequireOutput(TextEncoderOutputs.HiddenStatesPrefix + (layers - clipSkip), 3);
    }

    /// <summary>The text encoder's final layer norm, recovered once by <paramref name="fit"/> on first use.</summary>
    internal FinalLayerNorm GetFinalLayerNorm(Func<FinalLayerNorm> fit) => LazyInitializer.EnsureInitialized(ref _finalLayerNorm, fit);

    private static ClipTokenizer LoadTokenizer(string directory)
    {
        try
        {
            return ClipTokenizer.Load(directory);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidModelException(directory, e.Message, e);
        }
    }

    /// <summary>SDXL's second text encoder: integer ids in, every hidden state and <c>text_embeds [batch, size]</c> out.</summary>
    private static (TensorSpec InputIds, int Layers, TensorSpec TextEmbeds) ReadSecondTextEncoder(OnnxComponent encoder)
    {
        var ids = encoder.RequireInput(InputIdsName, 2);
        if (ids.ElementType is not (TensorElementType.Int32 or TensorElementType.Int64))
        {
            throw new InvalidModelException(encoder.Path, $"{ids} must be int32 or int64.");
        }

        var layers = TextEncoderOutputs.LayerCount(encoder.Outputs.Select(o => o.Name))
            ?? throw new InvalidModelException(encoder.Path, "SDXL's second text encoder must output its hidden states (hidden_states.0 ... hidden_states.N).");
        for (var layer = 0; layer <= layers; layer++)
        {
            UNetSignature.RequireFloat(encoder, encoder.RequireOutput(TextEncoderOutputs.HiddenStatesPrefix + layer, 3));
        }

        var pooled = encoder.RequireOutput(ModelFolder.TextEmbedsName, 2);
        UNetSignature.RequireFloat(encoder, pooled);
        return (ids, layers, pooled);
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
            using var cuda = new OrtCUDAProviderOptions();
            cuda.UpdateOptions(new Dictionary<string, string>(execution.Cuda.ToProviderOptions()));
            options.AppendExecutionProvider_CUDA(cuda);
            return (options, ExecutionProvider.Cuda, null);
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            options.Dispose();
            return (NewOptions(execution), ExecutionProvider.Cpu, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static SessionOptions NewOptions(ExecutionOptions execution)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = execution.IntraOpThreads,
            InterOpNumThreads = execution.InterOpThreads,
        };
        if (!execution.AllowSpinning)
        {
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        }

        return options;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "CUDA was requested but cannot be used; running on CPU. Reason: {Reason}")]
        public static partial void CudaUnavailable(ILogger logger, string reason);

        [LoggerMessage(2, LogLevel.Information, "Loaded model {Model} on {Provider} in {Milliseconds:F0} ms")]
        public static partial void Loaded(ILogger logger, string model, ExecutionProvider provider, double milliseconds);

        [LoggerMessage(4, LogLevel.Information, "Model {Model}: its SDXL VAE computes in float16, which overflows; it runs in float32 (force_upcast). An fp16-fix VAE with force_upcast: false would run as exported.")]
        public static partial void VaeUpcast(ILogger logger, string model);

        [LoggerMessage(3, LogLevel.Warning, "Model {Path} is a generated DEMO model ({Notice}): it never draws real pictures. Point the service at a diffusers/optimum ONNX export to generate real images.")]
        public static partial void DemoModel(ILogger logger, string path, string? notice);
    }
}
