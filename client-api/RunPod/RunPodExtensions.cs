namespace OrleansDiffusion.Api.RunPod;

public static class RunPodExtensions
{
    /// <summary>The RunPod-shaped endpoint's settings, checked at start.</summary>
    public static WebApplicationBuilder AddRunPodApi(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<RunPodOptions>()
            .Bind(builder.Configuration.GetSection(RunPodOptions.SectionName))
            .Validate(
                o => o.Prefix.StartsWith('/') && !o.Prefix.EndsWith('/') && !o.Prefix.AsSpan().ContainsAny("{}?#*"),
                "Diffusion:RunPod:Prefix must be a path that starts with '/' and does not end with one, such as /runpod/v2.")
            .ValidateOnStart();
        return builder;
    }
}
