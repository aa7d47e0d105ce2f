using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OrleansDiffusion.Engine.Tests.DemoModel;

/// <summary>
/// An <see cref="InferenceSession"/> that takes and returns plain float (or id) arrays and converts them to and from
/// whatever element type the model declares, so one test body covers float32, float16, int32 and int64 exports.
/// </summary>
internal sealed class DemoModelSession(string path) : IDisposable
{
    private readonly InferenceSession _session = new(path);

    public IReadOnlyDictionary<string, NodeMetadata> Inputs => _session.InputMetadata;

    public IReadOnlyDictionary<string, NodeMetadata> Outputs => _session.OutputMetadata;

    /// <summary>Runs the model; every input is given as doubles and a shape, every output comes back as floats.</summary>
    public IReadOnlyDictionary<string, TensorResult> Run(params (string Name, double[] Data, long[] Shape)[] inputs)
    {
        var values = new List<OrtValue>();
        try
        {
            foreach (var (name, data, shape) in inputs)
            {
                values.Add(Inputs[name].ElementDataType switch
                {
                    TensorElementType.Float => OrtValue.CreateTensorValueFromMemory(data.Select(v => (float)v).ToArray(), shape),
                    TensorElementType.Float16 => OrtValue.CreateTensorValueFromMemory(data.Select(v => (Float16)(float)v).ToArray(), shape),
                    TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(data.Select(v => (long)v).ToArray(), shape),
                    TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(data.Select(v => (int)v).ToArray(), shape),
                    var other => throw new NotSupportedException($"Input {name} is {other}."),
                });
            }

            var outputNames = Outputs.Keys.ToArray();
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, outputNames);
            var results = new Dictionary<string, TensorResult>();
            for (var i = 0; i < outputNames.Length; i++)
            {
                var info = outputs[i].GetTensorTypeAndShape();
                float[] data = info.ElementDataType switch
                {
                    TensorElementType.Float => outputs[i].GetTensorDataAsSpan<float>().ToArray(),
                    TensorElementType.Float16 => [.. outputs[i].GetTensorDataAsSpan<Float16>().ToArray().Select(v => v.ToFloat())],
                    var other => throw new NotSupportedException($"Output {outputNames[i]} is {other}."),
                };
                results[outputNames[i]] = new TensorResult(data, info.Shape);
            }

            return results;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    public void Dispose() => _session.Dispose();
}
