namespace OrleansDiffusion.Engine.Models;

/// <summary>
/// What a text encoder export outputs besides <c>last_hidden_state</c>: optimum exports made with hidden states (SDXL's,
/// SD3's, or any with <c>output_hidden_states</c>) have <c>hidden_states.0</c> (the embeddings) to <c>hidden_states.N</c>
/// (the last layer, before the final layer norm), which CLIP skip needs. The names are read from the ONNX file's
/// protobuf without loading the graph or its weights, so that a silo can check a request before any session exists.
/// </summary>
public static class TextEncoderOutputs
{
    public const string HiddenStatesPrefix = "hidden_states.";

    /// <summary>
    /// The layer count N when the outputs include every <c>hidden_states.0</c> ... <c>hidden_states.N</c> (N at least 1);
    /// null when they have none (optimum's SD 1.x and 2.x exports) or not all of them.
    /// </summary>
    public static int? LayerCount(IEnumerable<string> outputNames)
    {
        var indices = new HashSet<int>();
        foreach (var name in outputNames)
        {
            if (name.StartsWith(HiddenStatesPrefix, StringComparison.Ordinal)
                && int.TryParse(name.AsSpan(HiddenStatesPrefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
            {
                indices.Add(index);
            }
        }

        var layers = indices.Count - 1;
        return layers >= 1 && Enumerable.Range(0, layers + 1).All(indices.Contains) ? layers : null;
    }

    /// <summary>The graph output names of the ONNX model at <paramref name="path"/>, in order.</summary>
    /// <exception cref="InvalidDataException">The file is not an ONNX protobuf.</exception>
    public static IReadOnlyList<string> ReadOutputNames(string path) => [.. OnnxGraphHeader.Read(path).Outputs.Select(o => o.Name)];
}
