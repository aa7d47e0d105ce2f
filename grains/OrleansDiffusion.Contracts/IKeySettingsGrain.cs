namespace OrleansDiffusion.Contracts;

/// <summary>
/// What one API key chose for itself (key: the API key's name), kept in the cluster so that it holds across API
/// processes and restarts: today the model AUTOMATIC1111 clients select with <c>sd_model_checkpoint</c>.
/// </summary>
[Alias("od.IKeySettingsGrain")]
public interface IKeySettingsGrain : IGrainWithStringKey
{
    /// <summary>The model id the key chose; null for the cluster's default.</summary>
    [Alias("GetModel")]
    Task<string?> GetModel();

    [Alias("SetModel")]
    Task SetModel(string? model);
}
