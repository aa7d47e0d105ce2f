namespace OrleansDiffusion.Silo.Cli;

/// <summary>The single-process tool forms of the silo executable: <c>demo-model</c>, <c>generate</c>, <c>tokenize</c>.</summary>
public static class ToolCommands
{
    public const string Usage = """
        OrleansDiffusion silo

        Single-process tools:
          demo-model --out DIR [--architecture tiny|sd15|sdxl] [--family sd|sdxl|sdxl-turbo] [--flavor optimum|optimum-legacy|diffusers|olive-fp16|optimum-fp16|olive]
                     [--unet plain|lcm|inpainting] [--text-encoder-layers N]
              Write the tiny demo model (NOT Stable Diffusion) in a diffusers/optimum/Olive ONNX layout, SD-shaped or
              SDXL-shaped (two text encoders, text_embeds, time_ids), with an LCM or a 9-channel inpainting UNet if
              asked; with N layers its text encoder outputs hidden_states.0 ... hidden_states.N, so that --clip-skip
              runs on it.
              --architecture sd15|sdxl writes the full-size SD 1.5 or SDXL base networks instead (real sizes, generated
              weights: NOT a picture generator; 4.3 / 13.9 GB in float32, half in the fp16 flavours) and prints their
              parameter counts; --family, --unet and --text-encoder-layers do not apply.
          generate [--model DIR] --prompt "..." --out FILE.png [--negative-prompt TEXT] [--steps N] [--guidance G]
                   [--seed N] [--width W] [--height H] [--scheduler NAME] [--n 1]
                   [--init-image FILE --strength 0.75 [--mask FILE --mask-blur 4]] [--clip-skip 1] [--provider cpu|cuda]
                   [--device N] [--threads N]
              Generate images. Without --model, the tiny demo model (not Stable Diffusion) is written to
              ~/.cache/orleans-diffusion/demo-model (or $ORLEANSDIFFUSION_DEMO_MODEL) and used. With --n above 1, FILE gets an index suffix (out-0.png, out-1.png, ...).
              Size, steps and guidance default to the model's (SD: 512 x 512, 20, 7.5; SDXL: 1024 x 1024; SDXL-Turbo: 512 x 512, 4, 0).
              Schedulers: euler, euler_a, ddim, pndm (plms), lms, dpmpp_2m, lcm; add _karras to euler, euler_a, lms, dpmpp_2m.
              Prompts use AUTOMATIC1111's syntax: (word), (word:1.3), [word], \( \), BREAK; longer than 75 tokens is fine.
              --clip-skip N as A1111 counts it (2: the layer before the last); the text encoder must output its hidden states.
              --device N: the CUDA device ordinal with --provider cuda (default 0).
          tokenize --model DIR --input FILE
              FILE holds one JSON string per line; prints a JSON array of the 77 CLIP ids for each.
        """;

    public static bool IsToolCommand(string? name) =>
        name is DemoModelCommand.Name or GenerateCommand.Name or TokenizeCommand.Name or "help" or "--help" or "-h";

    /// <summary>Runs one tool command; returns the process exit code (0 ok, 1 failure, 2 bad arguments).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var command = args.Length > 0 ? args[0] : null;
        var rest = args.Skip(1).ToArray();
        try
        {
            return command switch
            {
                DemoModelCommand.Name => DemoModelCommand.Run(new ParsedArguments(command, rest, DemoModelCommand.Options), output),
                GenerateCommand.Name => GenerateCommand.Run(new ParsedArguments(command, rest, GenerateCommand.Options), output, error, cancellationToken),
                TokenizeCommand.Name => TokenizeCommand.Run(new ParsedArguments(command, rest, TokenizeCommand.Options), output),
                "help" or "--help" or "-h" => PrintUsage(output),
                _ => throw new CommandLineException($"unknown command '{command}'."),
            };
        }
        catch (CommandLineException e)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine();
            error.WriteLine(Usage);
            return 2;
        }
        catch (Engine.Models.InvalidModelException e)
        {
            error.WriteLine($"error: not a usable model: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled.");
            return 130;
        }
    }

    private static int PrintUsage(TextWriter output)
    {
        output.WriteLine(Usage);
        return 0;
    }
}
