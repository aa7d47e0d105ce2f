using OrleansDiffusion.Silo.Cli;
using OrleansDiffusion.Hosting;

if (args.Length > 0 && ToolCommands.IsToolCommand(args[0]))
{
    using var cancellation = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        cancellation.Cancel();
    };
    return ToolCommands.Run(args, Console.Out, Console.Error, cancellation.Token);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddDiffusionSilo();
var app = builder.Build();
app.MapDiffusionSiloEndpoints();
await app.RunAsync();
return 0;

/// <summary>The entry point; public so that tests can host the silo with WebApplicationFactory.</summary>
public partial class Program;
