using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests;

/// <summary>The tiny demo model written once per flavour and loaded on the CPU, shared by a test collection.</summary>
public sealed class DemoModelFolders : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly Dictionary<DemoModelFlavor, DiffusionModel> _models = [];
    private readonly Lock _gate = new();

    public static readonly DemoModelFlavor[] Flavors =
        [DemoModelFlavor.Optimum, DemoModelFlavor.OptimumLegacy, DemoModelFlavor.Diffusers, DemoModelFlavor.OliveFp16];

    /// <summary>Writes a fresh copy of a flavour into its own folder (for tests that damage it).</summary>
    public string WriteCopy(DemoModelFlavor flavor)
    {
        var path = _root.Combine($"{flavor}-{Guid.NewGuid():N}");
        DemoModelWriter.Write(path, new DemoModelOptions { Flavor = flavor });
        return path;
    }

    public string PathOf(DemoModelFlavor flavor) => _root.Combine(flavor.ToString());

    public DiffusionModel Get(DemoModelFlavor flavor = DemoModelFlavor.Optimum)
    {
        lock (_gate)
        {
            if (!_models.TryGetValue(flavor, out var model))
            {
                var path = PathOf(flavor);
                DemoModelWriter.Write(path, new DemoModelOptions { Flavor = flavor });
                model = DiffusionModel.Load(path, new ExecutionOptions { IntraOpThreads = 1 });
                _models[flavor] = model;
            }

            return model;
        }
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
public sealed class DemoModelCollection : ICollectionFixture<DemoModelFolders>
{
    public const string Name = "demo models";
}
