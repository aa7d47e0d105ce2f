using System.Buffers;
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Numerics;
using OrleansDiffusion.Engine.Schedulers;
using OrleansDiffusion.Engine.Tokenization;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// Stable Diffusion txt2img, img2img and inpainting over a loaded <see cref="DiffusionModel"/>, as diffusers' ONNX
/// pipelines compute it: CLIP text encoding, classifier-free guidance (or an LCM UNet's guidance embedding), the
/// scheduler loop, VAE decoding, PNG with the generation parameters. Thread-safe: concurrent jobs share the model's
/// sessions and own their buffers.
/// </summary>
public sealed partial class DiffusionPipeline(DiffusionModel model, GenerationLimits? limits = null)
{
    private readonly GenerationLimits _limits = limits ?? GenerationLimits.Default;

    public DiffusionModel Model => model;

    public GenerationLimits Limits => _limits;

    /// <summary>Runs one job to completion on the calling thread.</summary>
    /// <exception cref="ArgumentException">
    /// A request field is out of bounds, a prompt's attention syntax is bad (<see cref="InvalidPromptException"/>), a CLIP
    /// skip the text encoder cannot run, or img2img without a VAE encoder.
    /// </exception>
    /// <exception cref="OperationCanceledException">Cancelled; checked before every step and inside ONNX Runtime.</exception>
    public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        GenerateBatch([request], progress, cancellationToken)[0];

    /// <summary>
    /// Runs several compatible txt2img jobs as one batch: one UNet call per step for all their images. Compatible means
    /// the same steps, size, scheduler (and Karras choice), guidance mode (all above 1, or none) and hires fix, no init image.
    /// Each request keeps its own prompts, guidance scale and seeds, so its images are those it would get alone.
    /// </summary>
    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<GenerationRequest> requests, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var decoded = GenerateBatchDecoded(requests, progress, cancellationToken);
        try
        {
            return [.. decoded.Select(d => d.EncodePngs())];
        }
        finally
        {
            foreach (var result in decoded)
            {
                result.Dispose();
            }
        }
    }

    /// <summary>
    /// <see cref="GenerateBatch"/> up to the decoded pixels: the caller encodes the PNGs (<see cref="DecodedResult.EncodePngs"/>)
    /// when it suits it, e.g. after handing the inference slot to the next job, and disposes what it does not encode.
    /// </summary>
    public IReadOnlyList<DecodedResult> GenerateBatchDecoded(IReadOnlyList<GenerationRequest> requests, IProgress<GenerationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0)
        {
            throw new ArgumentException("A batch needs at least one request.", nameof(requests));
        }

        model.ThrowIfDisposed();
        RequireInpaintingEncoder();
        var first = requests[0];
        foreach (var request in requests)
        {
            ArgumentNullException.ThrowIfNull(request, nameof(requests));
            request.Validate(_limits);
            RequireSize(request);
            PromptEncoder.RequireClipSkip(model, request.ClipSkip);
            if (request.InitImage is not null && model.VaeEncoder is null)
            {
                throw new ArgumentException($"img2img needs a vae_encoder/ folder, which {model.Folder.Root} does not have.", nameof(requests));
            }

            if (requests.Count > 1 && !CanBatch(first, request))
            {
                throw new ArgumentException("Batched requests must share steps, size, scheduler, guidance mode and hires fix, and not be img2img.", nameof(requests));
            }
        }

        cancellationToken.ThrowIfCancellationRequested();
        var kind = first.Scheduler ?? SchedulerFactory.DefaultFor(model.Folder.SchedulerConfig, model.UNetSig.Kind);
        var karras = first.KarrasSigmas;
        IScheduler CreateScheduler() => SchedulerFactory.Create(kind, model.Folder.SchedulerConfig, karras);
        _ = CreateScheduler(); // validates the kind/Karras combination before any work

        using var runOptions = new RunOptions();
        using var registration = cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, runOptions);
        try
        {
            return Run(requests, kind, karras, CreateScheduler, runOptions, progress, cancellationToken);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The generation was cancelled.", cancellationToken);
        }
    }

    /// <summary>Whether two requests can share one batched UNet call.</summary>
    public static bool CanBatch(GenerationRequest a, GenerationRequest b) =>
        a.InitImage is null && b.InitImage is null
        && a.Steps == b.Steps && a.Width == b.Width && a.Height == b.Height
        && a.Scheduler == b.Scheduler && a.KarrasSigmas == b.KarrasSigmas
        && (a.GuidanceScale > 1f) == (b.GuidanceScale > 1f)
        && a.Hires == b.Hires;

    private IReadOnlyList<DecodedResult> Run(
        IReadOnlyList<GenerationRequest> requests,
        SchedulerKind kind,
        bool karras,
        Func<IScheduler> createScheduler,
        RunOptions runOptions,
        IProgress<GenerationProgress>? progress,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var first = requests[0];
        var latentHeight = first.Height / 8;
        var latentWidth = first.Width / 8;

        // One entry per image: which request it belongs to and its seed.
        var owners = requests.SelectMany((r, index) => Enumerable.Range(0, r.ImageCount).Select(i => (Request: index, Seed: r.Seed + i))).ToArray();

        // LCM UNets take the guidance as an embedding (timestep_cond) and run without the unconditional pass.
        var guided = first.GuidanceScale > 1f && model.UNetSig.TimestepCond is null;
        var (conditional, unconditional) = EncodePrompts(requests, guided, runOptions);
        var textTime = Stopwatch.GetElapsedTime(started);

        // Requests whose prompts encode to the same number of chunks share a UNet batch; the groups step together, so
        // that progress and cancellation stay those of one run, and each image is what it would be alone. The first
        // group holds request 0, whose first image is the one previewed.
        var groups = new List<ImageGroup>();
        try
        {
            var conditioning = new Conditioning(owners, conditional, unconditional, guided);
            foreach (var group in owners.Select((owner, index) => (owner, index)).GroupBy(o => conditional[o.owner.Request].Sequence))
            {
                RequireSequence(group.Key);
                int[] members = [.. group.Select(g => g.index)];
                groups.Add(new ImageGroup(CreateGroup(requests, conditioning, members, createScheduler, first.Steps, latentHeight, latentWidth, runOptions, hires: false), members));
            }

            return Denoise(requests, conditioning, groups, kind, karras, createScheduler, latentHeight, latentWidth, started, textTime, runOptions, progress, cancellationToken);
        }
        finally
        {
            foreach (var group in groups)
            {
                group.Loop.Dispose();
            }

            // The loops hold copies of the embeddings; the pooled arrays serve the next run.
            foreach (var values in conditional.Concat(unconditional ?? []).Where(e => e.FromPool).Select(e => e.Values).Distinct(ReferenceEqualityComparer.Instance))
            {
                ExactArrayPool.Return((float[])values!);
            }
        }
    }

    /// <summary>
    /// A UNet batch for the images <paramref name="members"/> (indices into the run's images), with their prompts' text
    /// embeddings and, for SDXL, pooled embeddings and <c>time_ids</c>: the request's own for the first pass, diffusers'
    /// defaults for the hires size for a hires pass unless the request set its own.
    /// </summary>
    private DenoisingLoop CreateGroup(
        IReadOnlyList<GenerationRequest> requests,
        Conditioning conditioning,
        int[] members,
        Func<IScheduler> createScheduler,
        int steps,
        int latentHeight,
        int latentWidth,
        RunOptions runOptions,
        bool hires)
    {
        var (owners, conditional, unconditional, guided) = conditioning;
        var lead = conditional[owners[members[0]].Request];
        var loop = new DenoisingLoop(
            model,
            createScheduler,
            steps,
            members.Length,
            latentHeight,
            latentWidth,
            lead.Sequence,
            lead.Hidden,
            members.Select(i => requests[owners[i].Request].GuidanceScale).ToArray(),
            guided,
            members.Select(i => owners[i].Seed).ToArray(),
            runOptions,
            lead.Pooled?.Length ?? 0);
        try
        {
            for (var local = 0; local < members.Length; local++)
            {
                var request = owners[members[local]].Request;
                loop.SetHiddenStates(local, conditional[request].Values, unconditional: false);
                if (unconditional is not null)
                {
                    loop.SetHiddenStates(local, unconditional[request].Values, unconditional: true);
                }

                if (model.IsXL)
                {
                    loop.SetPooled(local, conditional[request].Pooled, unconditional: false);
                    if (unconditional is not null)
                    {
                        loop.SetPooled(local, unconditional[request].Pooled, unconditional: true);
                    }

                    var size = SizeConditioningOf(requests[request], hires);
                    loop.SetTimeIds(local, size.ToTimeIds());
                }
            }

            return loop;
        }
        catch
        {
            loop.Dispose();
            throw;
        }
    }

    /// <summary>
    /// SDXL's <c>time_ids</c> for a pass: the request's, or diffusers' defaults for the pass's size. A hires pass keeps
    /// conditioning the request set itself, and moves the default one (the first pass's size, no crop) to the hires size.
    /// </summary>
    private static SizeConditioning SizeConditioningOf(GenerationRequest request, bool hires)
    {
        var first = SizeConditioning.Default(request.Width, request.Height);
        var asked = request.SizeConditioning ?? first;
        if (!hires || asked != first)
        {
            return asked;
        }

        var (width, height) = request.OutputSize;
        return SizeConditioning.Default(width, height);
    }

    private IReadOnlyList<DecodedResult> Denoise(
        IReadOnlyList<GenerationRequest> requests,
        Conditioning conditioning,
        List<ImageGroup> groups,
        SchedulerKind kind,
        bool karras,
        Func<IScheduler> createScheduler,
        int latentHeight,
        int latentWidth,
        long started,
        TimeSpan textTime,
        RunOptions runOptions,
        IProgress<GenerationProgress>? progress,
        CancellationToken cancellationToken)
    {
        var owners = conditioning.Owners;
        var first = requests[0];
        var preview = groups[0].Loop;
        var timesteps = preview.Scheduler.Timesteps.Length;
        var beginIndex = 0;
        var imageEncoderTime = TimeSpan.Zero;
        var inpaint = first.Mask is null ? null : InpaintPlan.Create(first);
        if (first.InitImage is null)
        {
            foreach (var (loop, members) in groups)
            {
                for (var i = 0; i < members.Length; i++)
                {
                    var slice = loop.Latents.Slice(i * loop.LatentLength, loop.LatentLength);
                    loop.GeneratorFor(i).FillNormal(slice);
                    System.Numerics.Tensors.TensorPrimitives.Multiply(slice, loop.SchedulerFor(i).InitNoiseSigma, slice);
                }
            }

            imageEncoderTime = ConditionInpaintingUNet(groups, plan: null, first.Width, first.Height, runOptions);
        }
        else
        {
            var encodeStarted = Stopwatch.GetTimestamp();
            var initLatents = EncodeImage(inpaint?.Image ?? first.InitImage, first.Width, first.Height, preview.LatentLength, runOptions);
            imageEncoderTime = Stopwatch.GetElapsedTime(encodeStarted);
            imageEncoderTime += ConditionInpaintingUNet(groups, inpaint, first.Width, first.Height, runOptions);

            // diffusers: init_timestep = min(int(steps * strength), steps); start = steps - init_timestep.
            var initTimestep = Math.Min((int)(first.Steps * first.Strength), first.Steps);
            beginIndex = Math.Max(first.Steps - initTimestep, 0);
            if (inpaint is not null)
            {
                foreach (var (loop, members) in groups)
                {
                    StartInpainting(loop, members.Length, inpaint, initLatents, beginIndex, first.Strength);
                }
            }
            else
            {
                var noise = new float[preview.LatentLength];
                foreach (var (loop, members) in groups)
                {
                    for (var i = 0; i < members.Length; i++)
                    {
                        loop.GeneratorFor(i).FillNormal(noise);
                        loop.SchedulerFor(i).AddNoise(initLatents, noise, beginIndex, loop.Latents.Slice(i * loop.LatentLength, loop.LatentLength));
                    }
                }
            }
        }

        // The hires fix's second pass counts in the job's steps: progress runs once from 0 to both passes' UNet
        // evaluations (a scheduler may evaluate more timesteps than steps, as PNDM does).
        var (hiresSchedule, hiresBegin) = first.Hires?.Schedule(first.Steps) ?? (0, 0);
        var hiresEnd = 0;
        if (first.Hires is not null)
        {
            var probe = createScheduler();
            probe.SetTimesteps(hiresSchedule, 1);
            hiresEnd = probe.Timesteps.Length;
        }

        var steps = new StepCounter(timesteps - beginIndex + hiresEnd - hiresBegin, first.PreviewInterval, started, progress);
        var denoiseStarted = Stopwatch.GetTimestamp();
        RunSteps(groups, beginIndex, timesteps, latentHeight, latentWidth, steps, cancellationToken);

        var hiresGroups = new List<ImageGroup>();
        try
        {
            if (first.Hires is { } hires)
            {
                var plan = hires.Plan(first.Width, first.Height);
                latentHeight = plan.Height / 8;
                latentWidth = plan.Width / 8;
                StartHiresPass(requests, conditioning, groups, hiresGroups, hires, plan, createScheduler, hiresSchedule, hiresBegin, first.Height / 8, first.Width / 8, runOptions);
                imageEncoderTime += ConditionInpaintingUNet(hiresGroups, plan: null, plan.Width, plan.Height, runOptions);
                RunSteps(hiresGroups, hiresBegin, hiresEnd, latentHeight, latentWidth, steps, cancellationToken);
                groups = hiresGroups;
            }

            var denoiseTime = Stopwatch.GetElapsedTime(denoiseStarted);
            cancellationToken.ThrowIfCancellationRequested();

            var images = new DecodedImage[owners.Length];
            var vaeTime = TimeSpan.Zero;
            try
            {
                foreach (var (loop, members) in groups)
                {
                    for (var i = 0; i < members.Length; i++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var vaeStarted = Stopwatch.GetTimestamp();
                        var owner = owners[members[i]];
                        var request = requests[owner.Request];
                        var (width, height) = request.OutputSize;
                        var rgb = Decode(loop.Latents.Slice(i * loop.LatentLength, loop.LatentLength), latentHeight, latentWidth, inpaint, runOptions);
                        vaeTime += Stopwatch.GetElapsedTime(vaeStarted);
                        images[members[i]] = new DecodedImage(rgb, owner.Seed, width, height, Describe(request, kind, karras, owner.Seed).ToInfotext());
                    }
                }
            }
            catch
            {
                foreach (var image in images)
                {
                    image?.Dispose();
                }

                throw;
            }

            var timings = new StageTimings(textTime, imageEncoderTime, denoiseTime, steps.Total, vaeTime, TimeSpan.Zero);
            if (requests.Count == 1)
            {
                return [new DecodedResult(images, timings)];
            }

            return requests
                .Select((_, index) => new DecodedResult(images.Where((_, i) => owners[i].Request == index).ToList(), timings))
                .ToList();
        }
        finally
        {
            foreach (var group in hiresGroups)
            {
                group.Loop.Dispose();
            }
        }
    }

    /// <summary>Runs steps <paramref name="begin"/> to <paramref name="end"/> of every group together, reporting each.</summary>
    private static void RunSteps(List<ImageGroup> groups, int begin, int end, int latentHeight, int latentWidth, StepCounter steps, CancellationToken cancellationToken)
    {
        var preview = groups[0].Loop;
        for (var index = begin; index < end; index++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var group in groups)
            {
                group.Loop.Step(index);
            }

            steps.Done(preview.Latents[..preview.LatentLength], latentWidth, latentHeight);
        }
    }

    /// <summary>
    /// Each request's prompt and, with guidance, negative prompt, encoded as AUTOMATIC1111 does; the shorter of the two
    /// is padded with empty chunks to the longer (A1111's <c>pad_cond_uncond</c>), so that they share one UNet batch.
    /// An SDXL model that asks for it (<c>force_zeros_for_empty_prompt</c>) gets zeros for an empty negative prompt, as
    /// many tokens long as the prompt: zero keys and values attend to zero, as a separate unpadded pass would.
    /// </summary>
    private (TextEmbedding[] Conditional, TextEmbedding[]? Unconditional) EncodePrompts(IReadOnlyList<GenerationRequest> requests, bool guided, RunOptions runOptions)
    {
        var encoder = new PromptEncoder(model, runOptions);
        var conditional = new TextEmbedding[requests.Count];
        var unconditional = guided ? new TextEmbedding[requests.Count] : null;
        for (var r = 0; r < requests.Count; r++)
        {
            var clipSkip = requests[r].ClipSkip;
            if (unconditional is not null && !(model.Folder.ForceZerosForEmptyPrompt && requests[r].NegativePrompt.Length == 0)
                && encoder.TryEncodePair(requests[r].Prompt, requests[r].NegativePrompt, clipSkip) is (var prompt, var negative))
            {
                // One chunk each, as most prompts are: one batch-2 call instead of two batch-1 calls, nothing to pad.
                conditional[r] = prompt;
                unconditional[r] = negative;
                continue;
            }

            conditional[r] = encoder.Encode(requests[r].Prompt, clipSkip);
            if (unconditional is not null && model.Folder.ForceZerosForEmptyPrompt && requests[r].NegativePrompt.Length == 0)
            {
                unconditional[r] = conditional[r].ZerosLike();
            }
            else if (unconditional is not null)
            {
                unconditional[r] = encoder.Encode(requests[r].NegativePrompt, clipSkip);
                var chunks = Math.Max(conditional[r].Chunks, unconditional[r].Chunks);
                conditional[r] = encoder.PadTo(conditional[r], chunks, clipSkip);
                unconditional[r] = encoder.PadTo(unconditional[r], chunks, clipSkip);
            }
        }

        return (conditional, unconditional);
    }

    /// <summary>Refuses a size the model cannot generate (a hires fix's too), and SDXL's size conditioning on a model without it.</summary>
    private void RequireSize(GenerationRequest request)
    {
        if (model.Folder.SizeRules.Problem(request.Width, request.Height) is { } problem)
        {
            throw new ArgumentException($"Model '{model.Folder.Name}' ({ModelFamilies.Name(model.Folder.Family)}) cannot generate {problem}.", nameof(request));
        }

        if (request.Hires is not null && request.OutputSize is var (width, height) && model.Folder.SizeRules.Problem(width, height) is { } hiresProblem)
        {
            throw new ArgumentException($"Model '{model.Folder.Name}' ({ModelFamilies.Name(model.Folder.Family)}) cannot generate the hires size: {hiresProblem}.", nameof(request));
        }

        if (request.SizeConditioning is not null && !model.IsXL)
        {
            throw new ArgumentException($"Size conditioning (original size, crop, target size) is SDXL's; model '{model.Folder.Name}' ({ModelFamilies.Name(model.Folder.Family)}) has none.", nameof(request));
        }
    }

    /// <summary>A UNet export traced with a fixed text length takes exactly that many tokens.</summary>
    private void RequireSequence(int sequence)
    {
        var fixedLength = model.UNetSig.EncoderHiddenStates.Dimensions[1];
        if (fixedLength > 0 && fixedLength != sequence)
        {
            throw new ArgumentException(
                $"This UNet export takes exactly {fixedLength} text tokens (one chunk of 75 and start and end); the prompt or negative prompt needs {sequence / ClipTokenizer.SequenceLength} chunks. Shorten it to 75 tokens without BREAK, or use an export whose encoder_hidden_states has a dynamic sequence axis.");
        }
    }

    /// <summary>The infotext fields for one image of <paramref name="request"/>.</summary>
    public GenerationParameters Describe(GenerationRequest request, SchedulerKind kind, bool karras, long seed) => new()
    {
        Prompt = request.Prompt,
        NegativePrompt = request.NegativePrompt,
        Steps = request.Steps,
        SamplerName = SamplerNames.Display(kind),
        ScheduleType = karras ? "Karras" : null,
        GuidanceScale = request.GuidanceScale,
        Seed = seed,
        Width = request.Width,
        Height = request.Height,
        ModelName = model.Folder.Name,
        Strength = request.InitImage is null ? request.Hires?.Strength : request.Strength,
        ClipSkip = request.ClipSkip > 1 ? request.ClipSkip : null,
        HiresUpscale = request.Hires is { ResizeWidth: 0, ResizeHeight: 0 } scaled ? scaled.Scale : null,
        HiresResize = request.Hires is { } hires && (hires.ResizeWidth != 0 || hires.ResizeHeight != 0)
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{hires.ResizeWidth}x{hires.ResizeHeight}")
            : null,
        HiresSteps = request.Hires is { Steps: > 0 } stepped ? stepped.Steps : null,
        HiresUpscaler = request.Hires is { } named ? LatentUpscalers.Name(named.Upscaler) : null,
    };

    /// <summary>Encodes one prompt as the pipeline does; the result is <c>[77 x chunks, hidden]</c> floats.</summary>
    internal TextEmbedding EncodeText(string prompt, RunOptions runOptions, int clipSkip = 1) =>
        new PromptEncoder(model, runOptions).Encode(prompt, clipSkip);

    private float[] EncodeImage(float[] image, int width, int height, int latentLength, RunOptions runOptions)
    {
        var encoder = model.VaeEncoder!;
        using var input = new TensorBuffer(model.EncoderInput!.ElementType, [1, 3, height, width]);
        input.Write(0, image);
        using var outputs = encoder.Session.Run(runOptions, [model.EncoderInput.Name], [input.Value], [model.EncoderOutput!.Name]);
        var values = ReadFloats(outputs[0]);
        var shape = outputs[0].GetTensorTypeAndShape().Shape;
        var channels = model.EncoderOutput.Name == DiffusionModel.LatentParametersName ? 2 * model.UNetSig.LatentChannels : model.UNetSig.LatentChannels;
        if (values.Length != channels * latentLength / model.UNetSig.LatentChannels)
        {
            throw new InvalidModelException(encoder.Path, $"{model.EncoderOutput.Name} came back as [{string.Join(", ", shape)}], expected [1, {channels}, {height / 8}, {width / 8}].");
        }

        // latent_parameters holds the mean then the log-variance; the mean is used (no sampling), so img2img is
        // deterministic given the seed, as with latent_sample exports.
        var latents = new float[latentLength];
        System.Numerics.Tensors.TensorPrimitives.Multiply(values.AsSpan(0, latentLength), model.Folder.VaeScalingFactor, latents);
        return latents;
    }

    /// <summary>
    /// Decodes one image's latents into interleaved RGB bytes rented from the shared pool (the caller returns them): the
    /// VAE writes into a pooled tensor, and its floats become bytes in vectors, so no per-image array is left behind.
    /// </summary>
    private byte[] Decode(ReadOnlySpan<float> latents, int latentHeight, int latentWidth, InpaintPlan? inpaint, RunOptions runOptions)
    {
        var height = latentHeight * 8;
        var width = latentWidth * 8;
        using var input = new TensorBuffer(model.DecoderInput.ElementType, [1, model.UNetSig.LatentChannels, latentHeight, latentWidth]);
        input.Write(0, latents, 1f / model.Folder.VaeScalingFactor);
        using var output = new TensorBuffer(model.DecoderOutput.ElementType, [1, 3, height, width]);
        try
        {
            model.VaeDecoder.Session.Run(runOptions, [model.DecoderInput.Name], [input.Value], [model.DecoderOutput.Name], [output.Value]);
        }
        catch (OnnxRuntimeException e) when (!runOptions.Terminate)
        {
            throw new InvalidModelException(model.VaeDecoder.Path, $"{model.DecoderOutput.Name} did not decode to [1, 3, {height}, {width}]: {e.Message}");
        }

        var pixelCount = width * height;
        var rgb = ArrayPool<byte>.Shared.Rent(3 * pixelCount);
        try
        {
            bool finite;
            if (inpaint is not null)
            {
                // Inpainting composites in float32 (the original pixels outside the mask) before the bytes.
                var pixels = new float[output.Length];
                output.Read(0, pixels);
                finite = PixelMath.AllFinite(pixels);
                PixelMath.PlanarToInterleaved(inpaint.Composite(pixels), rgb, pixelCount);
            }
            else
            {
                finite = output.ElementType == TensorElementType.Float
                    ? PixelMath.PlanarToInterleaved(output.Floats, rgb, pixelCount)
                    : PixelMath.PlanarToInterleaved(output.Halves, rgb, pixelCount);
            }

            if (!finite)
            {
                // A float16 VAE that overflows decodes to NaN, which would be written as a black picture.
                throw new InvalidModelException(model.VaeDecoder.Path, model.VaeDecoder.Session.InputMetadata[model.DecoderInput.Name].ElementDataType == TensorElementType.Float16
                    ? "the VAE decoder produced non-finite pixels: it overflows in float16. Use a float32 VAE export, or set force_upcast: true in vae_decoder/config.json so that it is run in float32."
                    : "the VAE decoder produced non-finite pixels.");
            }

            return rgb;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(rgb);
            throw;
        }
    }

    private static float[] ReadFloats(OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        if (info.ElementDataType == TensorElementType.Float16)
        {
            var half = value.GetTensorDataAsSpan<Float16>();
            var result = new float[half.Length];
            TensorBuffer.ReadFloat(half, 0, result);
            return result;
        }

        return value.GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>The images of one UNet batch: its loop and, for each of its images, the image's index in the run.</summary>
    private readonly record struct ImageGroup(DenoisingLoop Loop, int[] Members);

    /// <summary>Each image's request and seed, and each request's encoded prompts, shared by both passes.</summary>
    private sealed record Conditioning((int Request, long Seed)[] Owners, TextEmbedding[] Conditional, TextEmbedding[]? Unconditional, bool Guided);

    /// <summary>Counts the steps of a job across its passes and reports each, with a latent preview when one is due.</summary>
    private sealed class StepCounter(int total, int previewInterval, long started, IProgress<GenerationProgress>? progress)
    {
        private int _done;

        public int Total => total;

        public void Done(ReadOnlySpan<float> previewLatents, int latentWidth, int latentHeight)
        {
            _done++;
            if (progress is not null)
            {
                var image = previewInterval > 0 && (_done % previewInterval == 0 || _done == total)
                    ? LatentPreview.Render(previewLatents, latentWidth, latentHeight)
                    : null;
                progress.Report(new GenerationProgress(_done, total, Stopwatch.GetElapsedTime(started), image));
            }
        }
    }
}
