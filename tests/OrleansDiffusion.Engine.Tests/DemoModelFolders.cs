using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests;

/// <summary>The tiny demo model written once per flavour and loaded on the CPU, shared by a test collection.</summary>
public sealed class DemoModelFolders : IDisposable
{
    private readonly TempDirectory _root = new();
    private readonly Dictionary<(DemoModelFlavor, int), DiffusionModel> _models = [];
    private readonly Lock _gate = new();

    /// <summary>The text encoder layers of <see cref="GetWithHiddenStates"/>'s models.</summary>
    public const int HiddenStateLayers = 3;

    public static readonly DemoModelFlavor[] Flavors =
        [DemoModelFlavor.Optimum, DemoModelFlavor.OptimumLegacy, DemoModelFlavor.Diffusers, DemoModelFlavor.OliveFp16];

    /// <summary>Writes a fresh copy of a flavour into its own folder (for tests that damage it).</summary>
    public string WriteCopy(DemoModelFlavor flavor, int textEncoderLayers = 0)
    {
        var path = _root.Combine($"{flavor}-{Guid.NewGuid():N}");
        DemoModelWriter.Write(path, new DemoModelOptions { Flavor = flavor, TextEncoderLayers = textEncoderLayers });
        return path;
    }

    public string PathOf(DemoModelFlavor flavor, int textEncoderLayers = 0) =>
        _root.Combine(textEncoderLayers == 0 ? flavor.ToString() : $"{flavor}-layers{textEncoderLayers}");

    public DiffusionModel Get(DemoModelFlavor flavor = DemoModelFlavor.Optimum) => Get(flavor, 0);

    /// <summary>A model whose text encoder has <see cref="HiddenStateLayers"/> layers and outputs their hidden states.</summary>
    public DiffusionModel GetWithHiddenStates(DemoModelFlavor flavor = DemoModelFlavor.Optimum) => Get(flavor, HiddenStateLayers);

    private DiffusionModel Get(DemoModelFlavor flavor, int textEncoderLayers)
    {
        lock (_gate)
        {
            if (!_models.TryGetValue((flavor, textEncoderLayers), out var model))
            {
                var path = PathOf(flavor, textEncoderLayers);
                DemoModelWriter.Write(path, new DemoModelOptions { Flavor = flavor, TextEncoderLayers = textEncoderLayers });
                model = DiffusionModel.Load(path, new ExecutionOptions { IntraOpThreads = 1 });
                _models[(flavor, textEncoderLayers)] = model;
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
