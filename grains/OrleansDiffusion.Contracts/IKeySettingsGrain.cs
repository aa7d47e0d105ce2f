namespace OrleansDiffusion.Contracts;

/// <summary>
/// What one API key chose for itself (key: the API key's name), kept in the cluster so that it holds across API
/// processes and restarts: the model AUTOMATIC1111 clients select with <c>sd_model_checkpoint</c> and the CLIP skip they
/// set with <c>CLIP_stop_at_last_layers</c>.
/// </summary>
[Alias("od.IKeySettingsGrain")]
public interface IKeySettingsGrain : IGrainWithStringKey
{
    /// <summary>The model id the key chose; null for the cluster's default.</summary>
    [Alias("GetModel")]
    Task<string?> GetModel();

    [Alias("SetModel")]
    Task SetModel(string? model);

    /// <summary>The CLIP skip the key chose; null for none (1).</summary>
    [Alias("GetClipSkip")]
    Task<int?> GetClipSkip();

    [Alias("SetClipSkip")]
    Task SetClipSkip(int? clipSkip);
}
