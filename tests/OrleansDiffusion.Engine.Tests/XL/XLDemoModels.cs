using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests.XL;

/// <summary>SDXL-shaped demo models, written once per flavour and family and loaded on the CPU, shared by a collection.</summary>
public sealed class XLDemoModels : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly Dictionary<(DemoModelFlavor, DemoModelFamily), DiffusionModel> _models = [];
    private readonly Lock _gate = new();

    /// <summary>Every flavour an SDXL export comes in (the diffusers script does not export SDXL).</summary>
    public static readonly DemoModelFlavor[] Flavors =
        [DemoModelFlavor.Optimum, DemoModelFlavor.OptimumLegacy, DemoModelFlavor.OptimumFp16, DemoModelFlavor.Olive, DemoModelFlavor.OliveFp16];

    /// <summary>The text encoders' layers: the first has 2, the second 3.</summary>
    public const int Layers = 2;

    public DiffusionModel Get(DemoModelFlavor flavor = DemoModelFlavor.Optimum, DemoModelFamily family = DemoModelFamily.StableDiffusionXL)
    {
        lock (_gate)
        {
            if (!_models.TryGetValue((flavor, family), out var model))
            {
                var path = PathOf(flavor, family);
                DemoModelWriter.Write(path, new DemoModelOptions { Flavor = flavor, Family = family });
                model = DiffusionModel.Load(path, new ExecutionOptions { IntraOpThreads = 1 });
                _models[(flavor, family)] = model;
            }

            return model;
        }
    }

    public string PathOf(DemoModelFlavor flavor, DemoModelFamily family = DemoModelFamily.StableDiffusionXL) =>
        _root.Combine($"{DemoModelWriter.FamilyName(family)}-{DemoModelWriter.FlavorName(flavor)}");

    /// <summary>Writes a fresh copy into its own folder, for tests that change it.</summary>
    public string WriteCopy(DemoModelFlavor flavor = DemoModelFlavor.Optimum, DemoModelFamily family = DemoModelFamily.StableDiffusionXL)
    {
        var path = _root.Combine($"{DemoModelWriter.FamilyName(family)}-{flavor}-{Guid.NewGuid():N}");
        DemoModelWriter.Write(path, new DemoModelOptions { Flavor = flavor, Family = family });
        return path;
    }

    public void Dispose()
    {
        foreach (var model in _models.Values)
        {
            model.Dispose();
        }

        _root.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class XLDemoModelCollection : ICollectionFixture<XLDemoModels>
{
    public const string Name = "SDXL demo models";
}
