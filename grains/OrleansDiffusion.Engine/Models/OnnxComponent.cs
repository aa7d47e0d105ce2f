using Microsoft.ML.OnnxRuntime;

namespace OrleansDiffusion.Engine.Models;

/// <summary>One loaded ONNX graph of a model (text encoder, UNet, VAE) with its declared inputs and outputs.</summary>
public sealed class OnnxComponent : IDisposable
{
    private OnnxComponent(string path, InferenceSession session, bool upcast = false)
    {
        Path = path;
        Session = session;
        IsUpcast = upcast;
        Inputs = session.InputMetadata.Select(p => TensorSpec.From(p.Key, p.Value)).ToList();
        Outputs = session.OutputMetadata.Select(p => TensorSpec.From(p.Key, p.Value)).ToList();
    }

    public string Path { get; }

    public InferenceSession Session { get; }

    /// <summary>Whether the graph computed in float16 and runs rewritten to float32 (<see cref="Float16Upcast"/>).</summary>
    public bool IsUpcast { get; }

    public IReadOnlyList<TensorSpec> Inputs { get; }

    public IReadOnlyList<TensorSpec> Outputs { get; }

    /// <summary>
    /// Loads the graph at <paramref name="path"/>; with <paramref name="upcastFloat16"/>, a graph that computes in float16
    /// is rewritten to compute in float32 first.
    /// </summary>
    internal static OnnxComponent Load(string path, SessionOptions options, bool upcastFloat16 = false)
    {
        try
        {
            if (upcastFloat16 && Float16Upcast.Upcast(path) is { } upcast)
            {
                return new OnnxComponent(path, new InferenceSession(upcast, options), upcast: true);
            }

            return new OnnxComponent(path, new InferenceSession(path, options));
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidModelException(path, $"ONNX Runtime cannot load it: {e.Message}", e);
        }
    }

    public TensorSpec? FindInput(string name) => Inputs.FirstOrDefault(i => i.Name == name);

    public TensorSpec? FindOutput(string name) => Outputs.FirstOrDefault(o => o.Name == name);

    /// <summary>The input named <paramref name="name"/>, checked for rank; a clear error naming the file otherwise.</summary>
    public TensorSpec RequireInput(string name, params int[] ranks) => Require(FindInput(name), "input", name, ranks);

    public TensorSpec RequireOutput(string name, params int[] ranks) => Require(FindOutput(name), "output", name, ranks);

    public string Describe() =>
        $"inputs {string.Join("; ", Inputs)}; outputs {string.Join("; ", Outputs)}";

    public void Dispose() => Session.Dispose();

    private TensorSpec Require(TensorSpec? spec, string kind, string name, int[] ranks)
    {
        if (spec is null)
        {
            throw new InvalidModelException(Path, $"has no {kind} named '{name}' ({Describe()}).");
        }

        if (ranks.Length > 0 && !ranks.Contains(spec.Rank))
        {
            throw new InvalidModelException(Path, $"{kind} '{name}' has rank {spec.Rank}, expected {string.Join(" or ", ranks)} ({spec}).");
        }

        return spec;
    }
}
