using OrleansDiffusion.Contracts;

namespace OrleansDiffusion.Grains.Settings;

/// <summary>One API key's own settings, persisted with the jobs; written only when the key changes them.</summary>
public sealed class KeySettingsGrain(
    [PersistentState("settings", StorageNames.Jobs)] IPersistentState<KeySettingsState> state) : Grain, IKeySettingsGrain
{
    public Task<string?> GetModel() => Task.FromResult(state.State.Model);

    public async Task SetModel(string? model)
    {
        if (state.State.Model != model)
        {
            state.State.Model = model;
            await state.WriteStateAsync();
        }
    }

    public Task<int?> GetClipSkip() => Task.FromResult(state.State.ClipSkip);

    public async Task SetClipSkip(int? clipSkip)
    {
        if (state.State.ClipSkip != clipSkip)
        {
            state.State.ClipSkip = clipSkip;
            await state.WriteStateAsync();
        }
    }
}

[GenerateSerializer, Alias("od.KeySettingsState")]
public sealed class KeySettingsState
{
    [Id(0)] public string? Model { get; set; }

    [Id(1)] public int? ClipSkip { get; set; }
}
