using OrleansDiffusion.Silo.Cli;

if (args.Length == 0 || ToolCommands.IsToolCommand(args[0]))
{
    using var cancellation = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        cancellation.Cancel();
    };
    return ToolCommands.Run(args.Length == 0 ? ["help"] : args, Console.Out, Console.Error, cancellation.Token);
}

Console.Error.WriteLine($"error: unknown command '{args[0]}'. The silo host arrives with the cluster (issue 3); the tools are:");
Console.Error.WriteLine(ToolCommands.Usage);
return 2;
