using OrleansDiffusion.DemoModel;
using Xunit;

namespace OrleansDiffusion.Engine.Tests.DemoModel;

/// <summary>One demo model folder per flavour, written once for a test class and deleted after it.</summary>
public sealed class DemoModelFolders : IDisposable
{
    private readonly TemporaryDirectory _root = new();

    public DemoModelFolders()
    {
        foreach (var flavor in Enum.GetValues<DemoModelFlavor>())
        {
            DemoModelWriter.Write(PathOf(flavor), new DemoModelOptions { Flavor = flavor });
        }
    }

    public static TheoryData<DemoModelFlavor> Flavors => [.. Enum.GetValues<DemoModelFlavor>()];

    public string PathOf(DemoModelFlavor flavor) => _root.Combine(DemoModelWriter.FlavorName(flavor));

    public string ModelOf(DemoModelFlavor flavor, string component) => Path.Combine(PathOf(flavor), component, "model.onnx");

    public void Dispose() => _root.Dispose();
}
