namespace OrleansDiffusion.DemoModel.Models;

/// <summary>
/// SDXL's second text encoder's projection to <c>text_embeds</c>: [hidden, size] weights, and how the output's second
/// axis is declared (optimum marks it a dynamic "sequence" axis although it is the projection size; Olive fixes it).
/// </summary>
internal sealed record TextProjection(float[] Weights, int Size, object SecondDimension);
