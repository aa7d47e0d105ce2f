namespace OrleansDiffusion.Engine.Tokenization;

/// <summary>
/// A prompt the attention syntax cannot read (a weight that is not a finite number). An <see cref="ArgumentException"/>,
/// so that every API answers it as bad input.
/// </summary>
public sealed class InvalidPromptException(string message) : ArgumentException(message);
