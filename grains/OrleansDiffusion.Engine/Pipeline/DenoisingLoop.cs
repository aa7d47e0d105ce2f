using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// The UNet loop of one batch of images (one job, or several compatible jobs): every buffer and ONNX binding is made
/// once in the constructor (rented from the shared array pools, and returned on <see cref="Dispose"/>, so that the next
/// job reuses them), and <see cref="Step"/> allocates nothing on the managed heap. The UNet batch is
/// <c>[uncond x n, cond x n]</c> with guidance, <c>[cond x n]</c> without; each image has its own text embeddings,
/// guidance scale, scheduler and noise generator, so an image does not depend on what else shares the batch.
/// An inpainting UNet's <c>sample</c> carries after each image's latents its mask and masked-image latents
/// (<see cref="SetInpaintingConditioning"/>, written once); with a plain UNet, masked img2img keeps each image's
/// original latents, noised to the next step, outside its mask after every step (<see cref="KeepOutsideMask"/>).
/// </summary>
internal sealed class DenoisingLoop : IDisposable
{
    private readonly DiffusionModel _model;
    private readonly int _images;
    private readonly int _latentLength;
    private readonly int _sampleLength;
    private readonly int _planeLength;
    private readonly int _allLatents;
    private readonly KeptLatents?[] _kept;
    // Rented on the first masked img2img image (KeepOutsideMask), which is the only user.
    private float[]? _keptScratch;
    private readonly bool _guided;
    private readonly float[] _guidanceScales;
    private readonly float[] _latents;
    private readonly float[] _guidedOutput;
    private readonly float[]? _outputScratch;
    private readonly IScheduler[] _schedulers;
    private readonly NoiseGenerator[] _generators;
    private readonly TensorBuffer _sample;
    private readonly TensorBuffer _timestep;
    private readonly TensorBuffer _hiddenStates;
    private readonly TensorBuffer? _timestepCond;
    private readonly TensorBuffer? _textEmbeds;
    private readonly TensorBuffer? _timeIds;
    private readonly TensorBuffer _output;
    private readonly UNetBindings _bindings;
    private readonly RunOptions _runOptions;
    private bool _disposed;

    public DenoisingLoop(
        DiffusionModel model,
        Func<IScheduler> createScheduler,
        int steps,
        int images,
        int latentHeight,
        int latentWidth,
        int hiddenSequence,
        int hiddenSize,
        float[] guidanceScales,
        bool guided,
        long[] seeds,
        RunOptions runOptions,
        int pooledSize = 0)
    {
        _model = model;
        _images = images;
        _guided = guided;
        _guidanceScales = guidanceScales;
        _runOptions = runOptions;
        var signature = model.UNetSig;
        var channels = signature.LatentChannels;
        _planeLength = latentHeight * latentWidth;
        _latentLength = channels * _planeLength;
        _sampleLength = signature.SampleChannels * _planeLength;
        var batch = guided ? 2 * images : images;
        if (signature.FixedBatch is { } fixedBatch && fixedBatch != batch)
        {
            throw new ArgumentException($"This UNet export has a fixed batch of {fixedBatch}; the request needs {batch} (images x {(guided ? 2 : 1)}).");
        }

        _allLatents = images * _latentLength;
        _latents = Rent(_allLatents);
        _kept = new KeptLatents?[images];
        _guidedOutput = guided ? Rent(_allLatents) : [];
        _schedulers = new IScheduler[images];
        _generators = new NoiseGenerator[images];
        for (var i = 0; i < images; i++)
        {
            _schedulers[i] = createScheduler();
            _schedulers[i].SetTimesteps(steps, _latentLength);
            _generators[i] = new NoiseGenerator(seeds[i]);
        }

        _sample = new TensorBuffer(signature.Sample.ElementType, [batch, signature.SampleChannels, latentHeight, latentWidth]);
        _output = new TensorBuffer(signature.OutSample.ElementType, [batch, channels, latentHeight, latentWidth]);
        _outputScratch = signature.OutSample.IsFloat16 ? Rent(batch * _latentLength) : null;
        var timestepShape = signature.Timestep.Rank == 0
            ? Array.Empty<long>()
            : [signature.Timestep.Dimensions[0] > 0 ? signature.Timestep.Dimensions[0] : batch];
        _timestep = new TensorBuffer(signature.Timestep.ElementType, timestepShape);
        _hiddenStates = new TensorBuffer(signature.EncoderHiddenStates.ElementType, [batch, hiddenSequence, hiddenSize]);
        if (signature.TimestepCond is { } cond)
        {
            _timestepCond = new TensorBuffer(cond.ElementType, [batch, cond.Dimensions[1]]);
            var embedding = new float[cond.Dimensions[1]];
            for (var b = 0; b < batch; b++)
            {
                GuidanceEmbedding.Write(guidanceScales[b % images], embedding);
                _timestepCond.Write(b * embedding.Length, embedding);
            }
        }

        // SDXL's added conditioning: the pooled text and the time_ids of every row, written by SetPooled and SetTimeIds.
        if (signature.TextEmbeds is { } textEmbeds && signature.TimeIds is { } timeIds)
        {
            _textEmbeds = new TensorBuffer(textEmbeds.ElementType, [batch, pooledSize]);
            _timeIds = new TensorBuffer(timeIds.ElementType, [batch, ModelFolder.TimeIdsLength]);
        }

        List<(string, TensorBuffer)> invariant = [(UNetSignature.EncoderHiddenStatesName, _hiddenStates)];
        if (_timestepCond is not null)
        {
            invariant.Add((UNetSignature.TimestepCondName, _timestepCond));
        }

        if (_textEmbeds is not null && _timeIds is not null)
        {
            invariant.Add((ModelFolder.TextEmbedsName, _textEmbeds));
            invariant.Add((ModelFolder.TimeIdsName, _timeIds));
        }

        _bindings = new UNetBindings(
            model.UNet.Session,
            model.UNetBinding,
            [(UNetSignature.SampleName, _sample), (UNetSignature.TimestepName, _timestep)],
            invariant,
            signature.OutSample.Name,
            _output);
    }

    public int LatentLength => _latentLength;

    internal UNetBindings Bindings => _bindings;

    /// <summary>All images' latents, image after image.</summary>
    public Span<float> Latents => _latents.AsSpan(0, _allLatents);

    public IScheduler Scheduler => _schedulers[0];

    public NoiseGenerator GeneratorFor(int image) => _generators[image];

    public IScheduler SchedulerFor(int image) => _schedulers[image];

    /// <summary>Writes the text embeddings of image <paramref name="image"/> (its prompt, or its negative prompt).</summary>
    public void SetHiddenStates(int image, ReadOnlySpan<float> embedding, bool unconditional)
    {
        if (unconditional && !_guided)
        {
            return;
        }

        var row = unconditional ? image : (_guided ? _images : 0) + image;
        _hiddenStates.Write(row * embedding.Length, embedding);
    }

    /// <summary>
    /// An inpainting UNet's extra input for image <paramref name="image"/>: its latent mask (<c>[h, w]</c>, 1 repaints)
    /// and the latents of its masked image (<c>[4, h, w]</c>), behind its latents in every row of the batch. They do
    /// not change between steps, so they are written once.
    /// </summary>
    public void SetInpaintingConditioning(int image, ReadOnlySpan<float> mask, ReadOnlySpan<float> maskedImageLatents)
    {
        if (!_model.UNetSig.Kind.Inpainting)
        {
            throw new InvalidOperationException("Only an inpainting UNet takes a mask and masked-image latents.");
        }

        var copies = _guided ? 2 : 1;
        for (var copy = 0; copy < copies; copy++)
        {
            var row = (copy * _images) + image;
            _sample.Write((row * _sampleLength) + _latentLength, mask[.._planeLength]);
            _sample.Write((row * _sampleLength) + _latentLength + _planeLength, maskedImageLatents[.._latentLength]);
        }
    }

    /// <summary>
    /// Masked img2img with a plain UNet (diffusers' path for 4-channel UNets): after every step, image
    /// <paramref name="image"/>'s latents outside <paramref name="mask"/> (<c>[h, w]</c>, 1 repaints, 0 keeps; soft
    /// values blend) become <paramref name="original"/> noised with <paramref name="noise"/> to the level of the next
    /// step, and the clean original after the last. The arrays are kept, not copied.
    /// </summary>
    public void KeepOutsideMask(int image, float[] original, float[] noise, float[] mask)
    {
        if (_model.UNetSig.Kind.Inpainting)
        {
            throw new InvalidOperationException("An inpainting UNet keeps what the mask leaves itself.");
        }

        ArgumentOutOfRangeException.ThrowIfNotEqual(original.Length, _latentLength, nameof(original));
        ArgumentOutOfRangeException.ThrowIfNotEqual(noise.Length, _latentLength, nameof(noise));
        ArgumentOutOfRangeException.ThrowIfNotEqual(mask.Length, _planeLength, nameof(mask));
        _keptScratch ??= Rent(_latentLength);
        _kept[image] = new KeptLatents(original, noise, mask);
    }

    /// <summary>SDXL: writes the pooled text embedding (<c>text_embeds</c>) of image <paramref name="image"/>'s prompt or negative prompt.</summary>
    public void SetPooled(int image, ReadOnlySpan<float> pooled, bool unconditional)
    {
        if (_textEmbeds is null || (unconditional && !_guided))
        {
            return;
        }

        var row = unconditional ? image : (_guided ? _images : 0) + image;
        _textEmbeds.Write(row * pooled.Length, pooled);
    }

    /// <summary>SDXL: writes the <c>time_ids</c> of image <paramref name="image"/>, the same for its prompt and its negative prompt.</summary>
    public void SetTimeIds(int image, ReadOnlySpan<float> timeIds)
    {
        if (_timeIds is null)
        {
            return;
        }

        _timeIds.Write((_guided ? _images + image : image) * timeIds.Length, timeIds);
        if (_guided)
        {
            _timeIds.Write(image * timeIds.Length, timeIds);
        }
    }

    /// <summary>One denoising step at <paramref name="index"/>: scale, UNet, guidance, scheduler. Allocates nothing.</summary>
    public void Step(int index)
    {
        var scheduler = _schedulers[0];
        var scale = scheduler.ModelInputScale(index);
        // The latents are scaled and converted once; the guided batch's second half is a copy of the first.
        if (_sampleLength == _latentLength)
        {
            _sample.Write(0, Latents, scale);
            if (_guided)
            {
                _sample.CopyWithin(0, _allLatents, _allLatents);
            }
        }
        else
        {
            // Each row of an inpainting UNet's batch is [latents, mask, masked-image latents]: only the latents change.
            for (var i = 0; i < _images; i++)
            {
                _sample.Write(i * _sampleLength, _latents.AsSpan(i * _latentLength, _latentLength), scale);
                if (_guided)
                {
                    _sample.CopyWithin(i * _sampleLength, (_images + i) * _sampleLength, _latentLength);
                }
            }
        }

        _timestep.Fill(scheduler.Timesteps[index]);
        _bindings.Run(_runOptions);

        ReadOnlySpan<float> output;
        if (_outputScratch is null)
        {
            output = _output.Floats;
        }
        else
        {
            var scratch = _outputScratch.AsSpan(0, _output.Length);
            _output.Read(0, scratch);
            output = scratch;
        }

        ReadOnlySpan<float> prediction;
        if (_guided)
        {
            for (var i = 0; i < _images; i++)
            {
                var offset = i * _latentLength;
                Guidance.Apply(
                    output.Slice(offset, _latentLength),
                    output.Slice(_allLatents + offset, _latentLength),
                    _guidanceScales[i],
                    _guidedOutput.AsSpan(offset, _latentLength));
            }

            prediction = _guidedOutput.AsSpan(0, _allLatents);
        }
        else
        {
            prediction = output[.._allLatents];
        }

        for (var i = 0; i < _images; i++)
        {
            var latents = _latents.AsSpan(i * _latentLength, _latentLength);
            _schedulers[i].Step(prediction.Slice(i * _latentLength, _latentLength), index, latents, _generators[i]);
            if (_kept[i] is { } kept)
            {
                Keep(kept, _schedulers[i], index, latents);
            }
        }
    }

    // latents = (1 - m) * original noised to the next step + m * latents; the clean original after the last step.
    private void Keep(KeptLatents kept, IScheduler scheduler, int index, Span<float> latents)
    {
        ReadOnlySpan<float> outside = kept.Original;
        if (index + 1 < scheduler.Timesteps.Length)
        {
            scheduler.AddNoise(kept.Original, kept.Noise, index + 1, _keptScratch!.AsSpan(0, _latentLength));
            outside = _keptScratch.AsSpan(0, _latentLength);
        }

        for (var c = 0; c < UNetKind.LatentChannels; c++)
        {
            var offset = c * _planeLength;
            for (var p = 0; p < _planeLength; p++)
            {
                var m = kept.Mask[p];
                latents[offset + p] = (m * latents[offset + p]) + ((1f - m) * outside[offset + p]);
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _bindings.Dispose();
        _sample.Dispose();
        _timestep.Dispose();
        _hiddenStates.Dispose();
        _timestepCond?.Dispose();
        _textEmbeds?.Dispose();
        _timeIds?.Dispose();
        _output.Dispose();
        Return(_latents);
        Return(_keptScratch);
        Return(_guidedOutput);
        Return(_outputScratch);
    }

    private static float[] Rent(int length)
    {
        var array = ArrayPool<float>.Shared.Rent(length);
        array.AsSpan(0, length).Clear();
        return array;
    }

    private static void Return(float[]? array)
    {
        if (array is { Length: > 0 })
        {
            ArrayPool<float>.Shared.Return(array);
        }
    }

    private sealed record KeptLatents(float[] Original, float[] Noise, float[] Mask);
}
