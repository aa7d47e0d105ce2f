namespace OrleansDiffusion.Engine.Models;

/// <summary>A model folder that cannot be used, naming the file and what is wrong with it.</summary>
public sealed class InvalidModelException(string path, string problem, Exception? inner = null)
    : Exception($"{path}: {problem}", inner)
{
    /// <summary>The file or folder at fault.</summary>
    public string Path { get; } = path;

    public string Problem { get; } = problem;
}
