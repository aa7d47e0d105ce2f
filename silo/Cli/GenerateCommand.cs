using System.Globalization;
using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Models;
using OrleansDiffusion.Engine.Pipeline;
using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Silo.Cli;

/// <summary>
/// <c>generate [--model DIR] --prompt "..." --out FILE.png [--negative-prompt --steps --guidance --seed --width --height
/// --scheduler --n --init-image FILE --strength --mask FILE --mask-blur N --clip-skip N --provider cpu|cuda --device N --threads N]</c>;
/// size, steps and guidance default to the model's own.
/// </summary>
internal static class GenerateCommand
{
    public const string Name = "generate";

    public static readonly string[] Options =
    [
        "model", "prompt", "negative-prompt", "steps", "guidance", "seed", "width", "height", "scheduler", "n",
        "init-image", "strength", "mask", "mask-blur", "clip-skip", "out", "provider", "device", "threads",
    ];

    public static int Run(ParsedArguments args, TextWriter output, TextWriter progressOutput, CancellationToken cancellationToken)
    {
        _ = args.RequiredText("prompt");
        _ = args.RequiredText("out");
        var prompt = args.RequiredText("prompt");
        var outPath = args.RequiredText("out");
        var schedulerName = args.Text("scheduler");
        SchedulerKind? scheduler = null;
        var karras = false;
        if (schedulerName is not null)
        {
            if (!SchedulerFactory.TryParse(schedulerName, out var kind, out karras))
            {
                throw new CommandLineException($"--scheduler must be one of {string.Join(", ", SchedulerFactory.Names)}, not '{schedulerName}'.");
            }

            scheduler = kind;
        }

        var provider = (args.Text("provider") ?? "cpu").ToLowerInvariant() switch
        {
            "cpu" => ExecutionProvider.Cpu,
            "cuda" => ExecutionProvider.Cuda,
            var other => throw new CommandLineException($"--provider must be cpu or cuda, not '{other}'."),
        };

        var device = args.Int("device", 0);
        if (args.Text("device") is not null && provider != ExecutionProvider.Cuda)
        {
            throw new CommandLineException("--device picks a CUDA device: it needs --provider cuda.");
        }

        if (device < 0)
        {
            throw new CommandLineException($"--device must be 0 or more, not {device}.");
        }

        var seed = args.Long("seed") ?? Random.Shared.NextInt64(0, uint.MaxValue);
        var strength = args.Float("strength", 0.75f);
        var initPath = args.Text("init-image");
        if (initPath is not null && !File.Exists(initPath))
        {
            throw new CommandLineException($"--init-image file '{initPath}' not found.");
        }

        if (initPath is null && (args.Text("strength") is not null || args.Text("mask") is not null))
        {
            throw new CommandLineException($"--{(args.Text("mask") is null ? "strength" : "mask")} applies to img2img only; give --init-image too.");
        }

        // What was given is checked before the model is read; what was not is the model's own (read without loading a
        // graph): its size, steps and guidance.
        var request = new GenerationRequest
        {
            Prompt = prompt,
            NegativePrompt = args.Text("negative-prompt") ?? string.Empty,
            Steps = args.Int("steps", 20),
            GuidanceScale = args.Float("guidance", 7.5f),
            Seed = seed,
            Width = args.Int("width", 512),
            Height = args.Int("height", 512),
            Scheduler = scheduler,
            KarrasSigmas = karras,
            ImageCount = args.Int("n", 1),
            Strength = strength,
            ClipSkip = args.Int("clip-skip", 1),
        };
        Validate(request);

        var folder = ModelFolder.Open(args.Text("model") ?? DefaultDemoModel.Ensure(progressOutput));
        request = request with
        {
            Steps = args.Int("steps", folder.DefaultSteps),
            GuidanceScale = args.Float("guidance", folder.DefaultGuidanceScale),
            Width = args.Int("width", folder.SizeRules.DefaultWidth),
            Height = args.Int("height", folder.SizeRules.DefaultHeight),
        };
        if (initPath is not null)
        {
            try
            {
                var initBytes = File.ReadAllBytes(initPath);
                request = request with
                {
                    InitImage = InitImageLoader.LoadChw(initBytes, request.Width, request.Height, ImageLimits.Default),
                    Mask = ReadMask(args, initBytes, request.Width, request.Height),
                };
            }
            catch (InvalidImageException e)
            {
                throw new CommandLineException($"--init-image '{initPath}': {e.Message}");
            }
        }

        Validate(request);

        using var model = DiffusionModel.Load(folder, new ExecutionOptions { Provider = provider, IntraOpThreads = args.Int("threads", 0), AllowSpinning = false, Cuda = new CudaOptions { DeviceId = device } });
        if (model.ProviderFallbackReason is not null)
        {
            progressOutput.WriteLine($"CUDA unavailable, running on CPU: {model.ProviderFallbackReason}");
        }

        if (model.Folder.IsDemoModel)
        {
            progressOutput.WriteLine(model.Folder.DemoNotice == DemoModelWriter.DemoModelNotice || model.Folder.DemoNotice is null
                ? "Note: this is the tiny demo model, not Stable Diffusion; it paints abstract colour fields."
                : $"Note: {model.Folder.DemoNotice}; its pictures are noise.");
        }

        var pipeline = new DiffusionPipeline(model);
        GenerationResult result;
        try
        {
            result = pipeline.Generate(request, new TerminalProgressBar(progressOutput), cancellationToken);
        }
        catch (ArgumentException e)
        {
            throw new CommandLineException(e.Message);
        }

        progressOutput.WriteLine();
        for (var i = 0; i < result.Images.Count; i++)
        {
            var path = OutputPath(outPath, i, result.Images.Count);
            var directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (directory is not null)
            {
                Directory.CreateDirectory(directory);
            }

            File.WriteAllBytes(path, result.Images[i].Png);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path} (seed {result.Images[i].Seed})"));
        }

        var t = result.Timings;
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"text encoder {t.TextEncoder.TotalMilliseconds:F0} ms, {t.DenoisingSteps} UNet steps {t.Denoising.TotalMilliseconds:F0} ms, VAE {t.VaeDecoder.TotalMilliseconds:F0} ms, PNG {t.PngEncoding.TotalMilliseconds:F0} ms"));
        return 0;
    }

    /// <summary>With several images, <c>out.png</c> becomes <c>out-0.png</c>, <c>out-1.png</c>, ...</summary>
    public static string OutputPath(string path, int index, int count)
    {
        if (count == 1)
        {
            return path;
        }

        var extension = Path.GetExtension(path);
        var stem = path[..^extension.Length];
        return string.Create(CultureInfo.InvariantCulture, $"{stem}-{index}{extension}");
    }

    /// <summary>The <c>--mask</c> (white repaints, of the init image's size), blurred by <c>--mask-blur</c> (default 4), or null.</summary>
    private static float[]? ReadMask(ParsedArguments args, byte[] initImage, int width, int height)
    {
        if (args.Text("mask") is not { } maskPath)
        {
            return null;
        }

        if (!File.Exists(maskPath))
        {
            throw new CommandLineException($"--mask file '{maskPath}' not found.");
        }

        var blur = args.Int("mask-blur", 4);
        if (blur is < 0 or > MaskOptions.MaxBlur)
        {
            throw new CommandLineException($"--mask-blur must be between 0 and {MaskOptions.MaxBlur}, not {blur}.");
        }

        try
        {
            var normalized = MaskLoader.Normalize(
                File.ReadAllBytes(maskPath), MaskLoader.SizeOf(initImage), width, height, new MaskOptions { BlurX = blur, BlurY = blur });
            return NormalizedMask.ToPlane(normalized, width, height);
        }
        catch (InvalidImageException e)
        {
            throw new CommandLineException($"--mask '{maskPath}': {e.Message}");
        }
    }

    private static void Validate(GenerationRequest request)
    {
        try
        {
            request.Validate(GenerationLimits.Default);
        }
        catch (ArgumentException e)
        {
            throw new CommandLineException(e.Message);
        }
    }
}
