using System.Diagnostics;
using System.Text.Json;
using OrleansDiffusion.Engine.Imaging;
using OrleansDiffusion.Engine.Tests.Pipeline;
using OrleansDiffusion.Silo.Cli;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace OrleansDiffusion.Engine.Tests.Cli;

public sealed class ToolCommandsTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = ToolCommands.Run(args, output, error, TestContext.Current.CancellationToken);
        return (code, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("optimum")]
    [InlineData("optimum-legacy")]
    [InlineData("diffusers")]
    [InlineData("olive-fp16")]
    public void Demo_model_then_generate_writes_deterministic_pngs_with_parameters(string flavor)
    {
        var model = _directory.Combine(flavor);
        Assert.Equal(0, Run("demo-model", "--out", model, "--flavor", flavor).Code);

        string[] generate(string output) =>
        [
            "generate", "--model", model, "--prompt", "a castle", "--negative-prompt", "fog", "--steps", "3",
            "--seed", "7", "--width", "64", "--height", "64", "--scheduler", "euler_a", "--out", output,
        ];
        var (code, stdout, stderr) = Run(generate(_directory.Combine($"{flavor}-a.png")));
        Assert.True(code == 0, stderr);
        Assert.Equal(0, Run(generate(_directory.Combine($"{flavor}-b.png"))).Code);

        var a = File.ReadAllBytes(_directory.Combine($"{flavor}-a.png"));
        Assert.Equal(a, File.ReadAllBytes(_directory.Combine($"{flavor}-b.png")));
        Assert.StartsWith("a castle\nNegative prompt: fog\nSteps: 3, Sampler: Euler a, CFG scale: 7.5, Seed: 7, Size: 64x64", PngEncoder.ReadParameters(a), StringComparison.Ordinal);
        Assert.Contains("(seed 7)", stdout, StringComparison.Ordinal);
        Assert.Contains("3/3", stderr, StringComparison.Ordinal); // the progress bar
    }

    [Theory]
    [InlineData("sdxl-turbo", "olive", "Size: 512x512", "Steps: 4, Sampler: Euler a, CFG scale: 0,")]
    [InlineData("sd", "optimum", "Size: 512x512", "Steps: 20, Sampler: PLMS, CFG scale: 7.5,")]
    public void Generate_takes_the_models_own_size_steps_and_guidance_where_none_is_given(string family, string flavor, string size, string sampling)
    {
        var model = _directory.Combine(family);
        Assert.Equal(0, Run("demo-model", "--out", model, "--family", family, "--flavor", flavor).Code);

        var (code, _, stderr) = Run("generate", "--model", model, "--prompt", "a castle", "--seed", "7", "--out", _directory.Combine("out.png"));

        Assert.True(code == 0, stderr);
        var parameters = PngEncoder.ReadParameters(File.ReadAllBytes(_directory.Combine("out.png")));
        Assert.Contains(size, parameters, StringComparison.Ordinal);
        Assert.Contains(sampling, parameters, StringComparison.Ordinal);
    }

    [Fact]
    public void Several_images_get_index_suffixes_and_consecutive_seeds()
    {
        var model = _directory.Combine("m");
        Run("demo-model", "--out", model);

        var (code, stdout, stderr) = Run("generate", "--model", model, "--prompt", "x", "--steps", "2", "--seed", "10", "--n", "2", "--width", "64", "--height", "64", "--out", _directory.Combine("out.png"));

        Assert.True(code == 0, stderr);
        Assert.Contains("Seed: 10,", PngEncoder.ReadParameters(File.ReadAllBytes(_directory.Combine("out-0.png"))), StringComparison.Ordinal);
        Assert.Contains("Seed: 11,", PngEncoder.ReadParameters(File.ReadAllBytes(_directory.Combine("out-1.png"))), StringComparison.Ordinal);
        Assert.False(File.Exists(_directory.Combine("out.png")));
        Assert.Contains("(seed 11)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Img2img_from_the_command_line()
    {
        var model = _directory.Combine("m");
        Run("demo-model", "--out", model);
        Run("generate", "--model", model, "--prompt", "sun", "--steps", "2", "--seed", "1", "--width", "64", "--height", "64", "--out", _directory.Combine("init.png"));

        var (code, _, stderr) = Run("generate", "--model", model, "--prompt", "sea", "--steps", "4", "--seed", "1", "--width", "64", "--height", "64",
            "--init-image", _directory.Combine("init.png"), "--strength", "0.5", "--scheduler", "ddim", "--out", _directory.Combine("out.png"));

        Assert.True(code == 0, stderr);
        Assert.Contains("Denoising strength: 0.5", PngEncoder.ReadParameters(File.ReadAllBytes(_directory.Combine("out.png"))), StringComparison.Ordinal);
        Assert.Contains("2/2", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Clip_skip_from_the_command_line_needs_a_text_encoder_with_hidden_states()
    {
        var layered = _directory.Combine("layered");
        var plain = _directory.Combine("plain");
        Assert.Equal(0, Run("demo-model", "--out", layered, "--text-encoder-layers", "3").Code);
        Assert.Equal(0, Run("demo-model", "--out", plain).Code);
        string[] generate(string model, string output) =>
        [
            "generate", "--model", model, "--prompt", "a (red:1.2) castle", "--clip-skip", "2", "--steps", "2",
            "--seed", "7", "--width", "64", "--height", "64", "--out", output,
        ];

        var (code, _, stderr) = Run(generate(layered, _directory.Combine("skipped.png")));
        var refused = Run(generate(plain, _directory.Combine("refused.png")));

        Assert.True(code == 0, stderr);
        var parameters = PngEncoder.ReadParameters(File.ReadAllBytes(_directory.Combine("skipped.png")))!;
        Assert.StartsWith("a (red:1.2) castle\n", parameters, StringComparison.Ordinal);
        Assert.EndsWith(", Clip skip: 2", parameters, StringComparison.Ordinal);
        Assert.Equal(2, refused.Code);
        Assert.Contains("hidden_states", refused.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(_directory.Combine("refused.png")));
    }

    [Fact]
    public void Inpainting_from_the_command_line_with_an_inpainting_demo_model()
    {
        var model = _directory.Combine("inpainting");
        var (written, stdout, _) = Run("demo-model", "--out", model, "--unet", "inpainting");
        Assert.Equal(0, written);
        Assert.Contains("inpainting UNet", stdout, StringComparison.Ordinal);
        Run("generate", "--model", model, "--prompt", "sun", "--steps", "2", "--seed", "1", "--width", "64", "--height", "64", "--out", _directory.Combine("init.png"));
        using (var mask = new Image<L8>(64, 64))
        {
            for (var y = 0; y < 64; y++)
            {
                for (var x = 32; x < 64; x++)
                {
                    mask[x, y] = new L8(255);
                }
            }

            mask.SaveAsPng(_directory.Combine("mask.png"));
        }

        var (code, _, stderr) = Run("generate", "--model", model, "--prompt", "sea", "--steps", "4", "--seed", "1", "--width", "64", "--height", "64",
            "--init-image", _directory.Combine("init.png"), "--mask", _directory.Combine("mask.png"), "--mask-blur", "0", "--strength", "1", "--out", _directory.Combine("out.png"));

        Assert.True(code == 0, stderr);
        var before = PngPixels.Decode(File.ReadAllBytes(_directory.Combine("init.png")), out _, out _);
        var after = PngPixels.Decode(File.ReadAllBytes(_directory.Combine("out.png")), out _, out _);
        Assert.All(Enumerable.Range(0, after.Length).Where(p => p % 64 < 32), p => Assert.Equal(before[p], after[p]));
        Assert.Contains(Enumerable.Range(0, after.Length), p => p % 64 >= 32 && before[p] != after[p]);
    }

    [Fact]
    public void Tokenize_prints_77_ids_per_json_line()
    {
        var model = _directory.Combine("m");
        Run("demo-model", "--out", model);
        var input = _directory.Combine("prompts.txt");
        File.WriteAllLines(input, [JsonSerializer.Serialize("a photo of a cat"), JsonSerializer.Serialize("don't\tstop")]);

        var (code, stdout, _) = Run("tokenize", "--model", model, "--input", input);

        Assert.Equal(0, code);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        var ids = JsonSerializer.Deserialize<int[]>(lines[0])!;
        Assert.Equal(77, ids.Length);
        Assert.Equal([49406, 320, 1125, 539, 320, 2368, 49407, 49407], ids[..8]);
    }

    [Theory]
    [InlineData(new[] { "paint" }, "unknown command 'paint'")]
    [InlineData(new[] { "generate", "--model", "m", "--out", "o.png" }, "--prompt is required")]
    [InlineData(new[] { "generate", "--prompt", "x" }, "--out is required")]
    [InlineData(new[] { "generate", "--model", "m", "--prompt", "x", "--out", "o.png", "--steps", "many" }, "--steps must be an integer")]
    [InlineData(new[] { "generate", "--model", "m", "--prompt", "x", "--out", "o.png", "--width", "100" }, "Width must be a multiple of 8")]
    [InlineData(new[] { "generate", "--model", "m", "--prompt", "x", "--out", "o.png", "--scheduler", "heun" }, "--scheduler must be one of")]
    [InlineData(new[] { "generate", "--model", "m", "--prompt", "x", "--out", "o.png", "--strength", "0.5" }, "--strength applies to img2img only")]
    [InlineData(new[] { "generate", "--model", "m", "--prompt", "x", "--out", "o.png", "--colour", "red" }, "unknown option --colour")]
    [InlineData(new[] { "generate", "--model", "m", "--prompt" }, "--prompt needs a value")]
    [InlineData(new[] { "demo-model", "--out", "d", "--flavor", "onnx" }, "--flavor must be one of")]
    [InlineData(new[] { "demo-model", "--out", "d", "--unet", "sdxl" }, "--unet must be one of")]
    [InlineData(new[] { "generate", "--model", "m", "--prompt", "x", "--out", "o.png", "--mask", "m.png" }, "--mask applies to img2img only")]
    [InlineData(new[] { "demo-model", "--out", "d", "--family", "sd3" }, "--family must be one of sd, sdxl, sdxl-turbo")]
    [InlineData(new[] { "demo-model", "--out", "d", "--family", "sdxl", "--flavor", "diffusers" }, "--flavor diffusers has no SDXL export")]
    [InlineData(new[] { "demo-model", "--out", "d", "--architecture", "sd3" }, "--architecture must be one of tiny, sd15, sdxl")]
    [InlineData(new[] { "demo-model", "--out", "d", "--architecture", "sd15", "--family", "sdxl" }, "--family is an option of the tiny model")]
    [InlineData(new[] { "demo-model", "--out", "d", "--architecture", "sdxl", "--flavor", "diffusers" }, "--flavor diffusers has no SDXL export")]
    [InlineData(new[] { "tokenize", "--model", "m" }, "--input is required")]
    public void Bad_arguments_print_a_clear_message_and_exit_2(string[] args, string message)
    {
        var (code, _, stderr) = Run(args);

        Assert.Equal(2, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.Contains("Single-process tools", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_model_the_demo_model_is_written_once_and_used()
    {
        var demo = _directory.Combine("cache", "demo-model");
        Environment.SetEnvironmentVariable(DefaultDemoModelVariable, demo);
        try
        {
            var (code, _, stderr) = Run("generate", "--prompt", "x", "--steps", "1", "--width", "64", "--height", "64", "--out", _directory.Combine("a.png"));
            Assert.True(code == 0, stderr);
            Assert.Contains("NOT Stable Diffusion", stderr, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(demo, "model_index.json")));

            (code, _, stderr) = Run("generate", "--prompt", "x", "--steps", "1", "--width", "64", "--height", "64", "--out", _directory.Combine("b.png"));
            Assert.Equal(0, code);
            Assert.DoesNotContain("wrote the tiny demo model", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(DefaultDemoModelVariable, null);
        }
    }

    private const string DefaultDemoModelVariable = "ORLEANSDIFFUSION_DEMO_MODEL";

    [Theory]
    [InlineData("cpu", "1", "--device picks a CUDA device: it needs --provider cuda.")]
    [InlineData("cuda", "-1", "--device must be 0 or more, not -1.")]
    [InlineData("cuda", "gpu0", "--device must be an integer, not 'gpu0'.")]
    public void A_device_needs_the_cuda_provider_and_an_ordinal(string provider, string device, string error)
    {
        var output = _directory.Combine("never.png");

        var (code, _, stderr) = Run("generate", "--model", _directory.Path, "--prompt", "x", "--provider", provider, "--device", device, "--out", output);

        Assert.Equal(2, code);
        Assert.Contains(error, stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void A_folder_that_is_not_a_model_exits_1_naming_the_file()
    {
        var (code, _, stderr) = Run("generate", "--model", _directory.Path, "--prompt", "x", "--out", _directory.Combine("o.png"));

        Assert.Equal(1, code);
        Assert.Contains("model_index.json", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void The_silo_executable_runs_the_tools_as_a_process()
    {
        var silo = Path.Combine(AppContext.BaseDirectory, "OrleansDiffusion.Silo.dll");
        var model = _directory.Combine("p");

        var (code, _) = Exec(silo, "demo-model", "--out", model, "--flavor", "diffusers");
        Assert.Equal(0, code);
        (code, var error) = Exec(silo, "generate", "--model", model, "--prompt", "x", "--steps", "1", "--width", "64", "--height", "64", "--out", _directory.Combine("p.png"));
        Assert.True(code == 0, error);
        Assert.True(PngPixels.Decode(File.ReadAllBytes(_directory.Combine("p.png")), out _, out _).Length == 64 * 64);
        (code, error) = Exec(silo, "generate", "--model", model);
        Assert.Equal(2, code);
        Assert.Contains("--prompt is required", error, StringComparison.Ordinal);
    }

    private static (int Code, string Error) Exec(string dll, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        _ = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        process.WaitForExit();
        return (process.ExitCode, error.Result);
    }
}
