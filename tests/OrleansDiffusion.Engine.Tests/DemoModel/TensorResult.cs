namespace OrleansDiffusion.Engine.Tests.DemoModel;

/// <summary>An output tensor read back as floats.</summary>
internal sealed record TensorResult(float[] Data, long[] Shape)
{
    public bool AllFinite => Data.All(float.IsFinite);
}
