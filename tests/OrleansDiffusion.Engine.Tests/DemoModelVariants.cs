using OrleansDiffusion.DemoModel;
using OrleansDiffusion.Engine.Models;

namespace OrleansDiffusion.Engine.Tests;

/// <summary>
/// Demo model folders of the UNet variants (LCM, inpainting) and of the plain UNet to compare them with, each written
/// and loaded once per test collection under a name, with an optional edit of the written folder.
/// </summary>
public sealed class DemoModelVariants : IDisposable
{
    public static readonly DemoModelOptions Lcm = new() { GuidanceEmbeddingSize = DemoModelOptions.LcmGuidanceEmbeddingSize };

    public static readonly DemoModelOptions Inpainting = new() { Inpainting = true };

    private readonly TempDirectory _root = new();
    private readonly Dictionary<string, DiffusionModel> _models = [];
    private readonly Lock _gate = new();

    public string PathOf(string name) => _root.Combine(name);

    /// <summary>The model written with <paramref name="options"/> (then <paramref name="edit"/>ed) under <paramref name="name"/>.</summary>
    public DiffusionModel Get(string name, DemoModelOptions options, Action<string>? edit = null)
    {
        lock (_gate)
        {
            if (!_models.TryGetValue(name, out var model))
            {
                var path = PathOf(name);
                DemoModelWriter.Write(path, options);
                edit?.Invoke(path);
                model = DiffusionModel.Load(path, new ExecutionOptions { IntraOpThreads = 1 });
                _models[name] = model;
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
public sealed class DemoModelVariantCollection : ICollectionFixture<DemoModelVariants>
{
    public const string Name = "demo model variants";
}
