namespace OrleansDiffusion.Silo.Cli;

/// <summary>Bad command-line arguments: the message is printed with the usage, and the tool exits with 2.</summary>
public sealed class CommandLineException(string message) : Exception(message);
