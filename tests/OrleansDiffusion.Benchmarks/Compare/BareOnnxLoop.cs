using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Tokenization;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace OrleansDiffusion.Benchmarks.Compare;

/// <summary>
/// txt2img written directly against ONNX Runtime, the yardstick for the engine: text encoder on prompt and negative
/// prompt, the UNet with classifier-free guidance (one batch-2 call, or two batch-1 calls when the export fixes the
/// batch at 1), Euler, the VAE decoder and the engine's PNG encoder. Input and output names and element types come from
/// the session metadata, so it runs fp32 (optimum), optimum-fp16 (float16 IO, scalar timestep) and Olive (int32 ids,
/// timestep [B], float16 IO) exports. Buffers are allocated once; a step allocates nothing on the managed heap.
/// </summary>
public sealed class BareOnnxLoop : IDisposable
{
    private const string Infotext = "a lighthouse on a cliff at dusk, oil painting\nNegative prompt: blurry\nSteps: 20, Sampler: Euler, CFG scale: 7.5, Seed: 1234, Size: 512x512, Model: bare";

    private readonly SessionOptions _options;
    private readonly InferenceSession _textEncoder;
    private readonly InferenceSession _unet;
    private readonly InferenceSession _vaeDecoder;
    private readonly ClipTokenizer _tokenizer;
    private readonly RunOptions _run = new();
    private readonly float _vaeScale;
    private readonly double[] _trainSigmas;
    private readonly int _trainSteps;
    private readonly string _spacing;
    private readonly int _stepsOffset;
    private float[] _pixels = [];

    public BareOnnxLoop(string folder, int threads, bool cuda, bool allowSpinning = true)
    {
        _options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads,
        };
        if (!allowSpinning)
        {
            _options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            _options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        }
        if (cuda)
        {
            _options.AppendExecutionProvider_CUDA(0);
        }

        _textEncoder = new InferenceSession(Path.Combine(folder, "text_encoder", "model.onnx"), _options);
        _unet = new InferenceSession(Path.Combine(folder, "unet", "model.onnx"), _options);
        _vaeDecoder = new InferenceSession(Path.Combine(folder, "vae_decoder", "model.onnx"), _options);
        _tokenizer = ClipTokenizer.Load(Path.Combine(folder, "tokenizer"));
        _vaeScale = (float)ReadNumber(Path.Combine(folder, "vae_decoder", "config.json"), "scaling_factor", 0.18215);

        var scheduler = Path.Combine(folder, "scheduler", "scheduler_config.json");
        _trainSteps = (int)ReadNumber(scheduler, "num_train_timesteps", 1000);
        _stepsOffset = (int)ReadNumber(scheduler, "steps_offset", 0);
        _spacing = ReadString(scheduler, "timestep_spacing") ?? "linspace";
        var betaStart = ReadNumber(scheduler, "beta_start", 0.00085);
        var betaEnd = ReadNumber(scheduler, "beta_end", 0.012);

        // scaled_linear betas, sigma_t = sqrt((1 - alphabar_t) / alphabar_t).
        _trainSigmas = new double[_trainSteps];
        var alphaBar = 1.0;
        for (var t = 0; t < _trainSteps; t++)
        {
            var root = Math.Sqrt(betaStart) + (Math.Sqrt(betaEnd) - Math.Sqrt(betaStart)) * t / (_trainSteps - 1);
            alphaBar *= 1 - root * root;
            _trainSigmas[t] = Math.Sqrt((1 - alphaBar) / alphaBar);
        }
    }

    /// <summary>
    /// One image; returns the time of the text encoder, of the UNet loop (guidance and Euler included) and of the VAE
    /// decoder up to the pixels in float32 host memory, and the PNG (null without).
    /// </summary>
    public (TimeSpan Text, TimeSpan Denoising, TimeSpan Decode, byte[]? Png) Generate(string prompt, string negativePrompt, int width, int height, int steps, float guidance, long seed, bool png)
    {
        var latentH = height / 8;
        var latentW = width / 8;
        var latentLength = 4 * latentH * latentW;
        var textStarted = Stopwatch.GetTimestamp();

        // Text encoder: [uncond, cond] as one batch-2 call unless the export's batch is fixed at 1.
        var ids = _textEncoder.InputMetadata["input_ids"];
        var hiddenName = _textEncoder.OutputMetadata.ContainsKey("last_hidden_state") ? "last_hidden_state" : _textEncoder.OutputMetadata.Keys.First();
        var hiddenMeta = _textEncoder.OutputMetadata[hiddenName];
        var sequence = ClipTokenizer.SequenceLength;
        var hiddenSize = hiddenMeta.Dimensions[2];
        var hidden = new float[2 * sequence * hiddenSize];
        int[] uncondIds = _tokenizer.Tokenize(negativePrompt).Ids;
        int[] condIds = _tokenizer.Tokenize(prompt).Ids;
        if (ids.Dimensions[0] == 1)
        {
            EncodeText([uncondIds], ids.ElementDataType, hiddenName, hiddenMeta.ElementDataType, hidden.AsSpan(0, sequence * hiddenSize));
            EncodeText([condIds], ids.ElementDataType, hiddenName, hiddenMeta.ElementDataType, hidden.AsSpan(sequence * hiddenSize));
        }
        else
        {
            EncodeText([uncondIds, condIds], ids.ElementDataType, hiddenName, hiddenMeta.ElementDataType, hidden);
        }

        var text = Stopwatch.GetElapsedTime(textStarted);

        // UNet buffers, in the element types the export declares.
        var sampleMeta = _unet.InputMetadata["sample"];
        var timestepMeta = _unet.InputMetadata["timestep"];
        var hiddenInMeta = _unet.InputMetadata["encoder_hidden_states"];
        var outName = _unet.OutputMetadata.ContainsKey("out_sample") ? "out_sample" : _unet.OutputMetadata.Keys.First();
        var outMeta = _unet.OutputMetadata[outName];
        var batch = sampleMeta.Dimensions[0] == 1 ? 1 : 2;
        var calls = 2 / batch;
        using var sample = new Buffer(sampleMeta.ElementDataType, [batch, 4, latentH, latentW]);
        using var output = new Buffer(outMeta.ElementDataType, [batch, 4, latentH, latentW]);
        long[] timestepShape = timestepMeta.Dimensions.Length == 0 ? [] : [batch];
        using var timestep = new Buffer(timestepMeta.ElementDataType, timestepShape);
        var hiddenBuffers = new Buffer[calls];
        for (var c = 0; c < calls; c++)
        {
            hiddenBuffers[c] = new Buffer(hiddenInMeta.ElementDataType, [batch, sequence, hiddenSize]);
            hiddenBuffers[c].Write(0, hidden.AsSpan(c * batch * sequence * hiddenSize, batch * sequence * hiddenSize));
        }

        var latents = new float[latentLength];
        var scaled = new float[latentLength];
        var noisePred = new float[2 * latentLength];
        var (timesteps, sigmas) = Schedule(steps);
        new NoiseGenerator(seed).FillNormal(latents);
        TensorPrimitives.Multiply(latents, (float)Math.Sqrt(sigmas[0] * sigmas[0] + 1), latents);

        string[] inputNames = ["sample", "timestep", "encoder_hidden_states"];
        string[] outputNames = [outName];
        var outputs = new[] { output.Value };
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < steps; i++)
        {
            var sigma = sigmas[i];
            TensorPrimitives.Multiply(latents, (float)(1 / Math.Sqrt(sigma * sigma + 1)), scaled);
            for (var b = 0; b < batch; b++)
            {
                sample.Write(b * latentLength, scaled);
            }

            timestep.Fill((float)timesteps[i]);
            for (var c = 0; c < calls; c++)
            {
                _unet.Run(_run, inputNames, [sample.Value, timestep.Value, hiddenBuffers[c].Value], outputNames, outputs);
                output.Read(noisePred.AsSpan(c * batch * latentLength, batch * latentLength));
            }

            // guided = uncond + g * (cond - uncond); Euler: x += guided * (sigma_next - sigma).
            var uncond = noisePred.AsSpan(0, latentLength);
            var cond = noisePred.AsSpan(latentLength, latentLength);
            TensorPrimitives.Subtract(cond, uncond, cond);
            TensorPrimitives.MultiplyAdd(cond, guidance, uncond, uncond);
            TensorPrimitives.MultiplyAdd(uncond, (float)(sigmas[i + 1] - sigma), latents, latents);
        }

        var denoising = Stopwatch.GetElapsedTime(started);
        foreach (var buffer in hiddenBuffers)
        {
            buffer.Dispose();
        }

        // VAE decoder: latents / scaling factor -> [1, 3, H, W] in [-1, 1], read into float32 host memory.
        var decodeStarted = Stopwatch.GetTimestamp();
        var decoderIn = _vaeDecoder.InputMetadata["latent_sample"];
        var decoderOutName = _vaeDecoder.OutputMetadata.ContainsKey("sample") ? "sample" : _vaeDecoder.OutputMetadata.Keys.First();
        var decoderOut = _vaeDecoder.OutputMetadata[decoderOutName];
        using var latentIn = new Buffer(decoderIn.ElementDataType, [1, 4, latentH, latentW]);
        TensorPrimitives.Multiply(latents, 1 / _vaeScale, latents);
        latentIn.Write(0, latents);
        using var image = new Buffer(decoderOut.ElementDataType, [1, 3, height, width]);
        _vaeDecoder.Run(_run, ["latent_sample"], [latentIn.Value], [decoderOutName], [image.Value]);
        if (_pixels.Length != 3 * width * height)
        {
            _pixels = new float[3 * width * height];
        }

        image.Read(_pixels);
        var decode = Stopwatch.GetElapsedTime(decodeStarted);
        return (text, denoising, decode, png ? PngEncoder.Encode(_pixels, width, height, Infotext) : null);
    }

    public void Dispose()
    {
        _textEncoder.Dispose();
        _unet.Dispose();
        _vaeDecoder.Dispose();
        _run.Dispose();
        _options.Dispose();
    }

    private void EncodeText(int[][] prompts, TensorElementType idType, string hiddenName, TensorElementType hiddenType, Span<float> destination)
    {
        var sequence = ClipTokenizer.SequenceLength;
        using var ids = new Buffer(idType, [prompts.Length, sequence]);
        for (var p = 0; p < prompts.Length; p++)
        {
            ids.WriteIds(p * sequence, prompts[p]);
        }

        using var hidden = new Buffer(hiddenType, [prompts.Length, sequence, destination.Length / prompts.Length / sequence]);
        _textEncoder.Run(_run, ["input_ids"], [ids.Value], [hiddenName], [hidden.Value]);
        hidden.Read(destination);
    }

    /// <summary>diffusers' EulerDiscreteScheduler timesteps (linspace, leading or trailing) and sigmas, with a final 0.</summary>
    private (double[] Timesteps, double[] Sigmas) Schedule(int steps)
    {
        var timesteps = new double[steps];
        for (var i = 0; i < steps; i++)
        {
            timesteps[i] = _spacing switch
            {
                "leading" => (steps - 1 - i) * (_trainSteps / steps) + _stepsOffset,
                "trailing" => Math.Round(_trainSteps - i * ((double)_trainSteps / steps)) - 1,
                _ => (_trainSteps - 1) * (double)(steps - 1 - i) / Math.Max(steps - 1, 1),
            };
        }

        var sigmas = new double[steps + 1];
        for (var i = 0; i < steps; i++)
        {
            var t = timesteps[i];
            var low = (int)Math.Floor(t);
            var high = Math.Min(low + 1, _trainSteps - 1);
            var fraction = t - low;
            sigmas[i] = (1 - fraction) * _trainSigmas[low] + fraction * _trainSigmas[high];
        }

        return (timesteps, sigmas);
    }

    private static double ReadNumber(string path, string key, double fallback)
    {
        if (!File.Exists(path))
        {
            return fallback;
        }

        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : fallback;
    }

    private static string? ReadString(string path, string key)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }

    /// <summary>A tensor over managed memory in the element type a graph declares; floats move in and out vectorised.</summary>
    private sealed class Buffer : IDisposable
    {
        private readonly float[]? _float;
        private readonly Float16[]? _half;
        private readonly long[]? _long;
        private readonly int[]? _int;

        public Buffer(TensorElementType type, long[] shape)
        {
            var length = 1L;
            foreach (var d in shape)
            {
                length *= d;
            }

            Value = type switch
            {
                TensorElementType.Float => OrtValue.CreateTensorValueFromMemory(_float = new float[length], shape),
                TensorElementType.Float16 => OrtValue.CreateTensorValueFromMemory(_half = new Float16[length], shape),
                TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(_long = new long[length], shape),
                TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(_int = new int[length], shape),
                _ => throw new NotSupportedException($"Tensor element type {type} is not supported."),
            };
        }

        public OrtValue Value { get; }

        public void Write(int offset, ReadOnlySpan<float> source)
        {
            if (_float is not null)
            {
                source.CopyTo(_float.AsSpan(offset));
            }
            else if (_half is not null)
            {
                TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<Float16, Half>(_half.AsSpan(offset, source.Length)));
            }
            else
            {
                throw new NotSupportedException("Integer tensors take ids, not floats.");
            }
        }

        public void Fill(float value)
        {
            if (_float is not null)
            {
                _float.AsSpan().Fill(value);
            }
            else if (_half is not null)
            {
                _half.AsSpan().Fill((Float16)value);
            }
            else if (_long is not null)
            {
                _long.AsSpan().Fill((long)value);
            }
            else
            {
                _int!.AsSpan().Fill((int)value);
            }
        }

        public void WriteIds(int offset, int[] ids)
        {
            if (_int is not null)
            {
                ids.CopyTo(_int.AsSpan(offset));
                return;
            }

            for (var i = 0; i < ids.Length; i++)
            {
                _long![offset + i] = ids[i];
            }
        }

        public void Read(Span<float> destination)
        {
            if (_float is not null)
            {
                _float.AsSpan(0, destination.Length).CopyTo(destination);
            }
            else
            {
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<Float16, Half>(_half.AsSpan(0, destination.Length)), destination);
            }
        }

        public void Dispose() => Value.Dispose();
    }
}
