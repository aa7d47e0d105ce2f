namespace OrleansDiffusion.Api.Scaling;

public static class ScalerExtensions
{
    /// <summary>Serves the KEDA external scaler when <c>Diffusion:Scaler:Url</c> is set.</summary>
    public static WebApplicationBuilder AddKedaScaler(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(ScalerOptions.SectionName);
        builder.Services.AddOptions<ScalerOptions>()
            .Bind(section)
            .Validate(o => o.Url is null || Uri.TryCreate(o.Url.Replace("+", "0.0.0.0", StringComparison.Ordinal).Replace("*", "0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri) && uri.Scheme == "http", "Diffusion:Scaler:Url must be an http:// URL (KEDA speaks cleartext HTTP/2).")
            .Validate(o => o.StreamInterval >= TimeSpan.FromMilliseconds(100), "Diffusion:Scaler:StreamInterval must be at least 100 ms.")
            .ValidateOnStart();
        if (!string.IsNullOrWhiteSpace(section[nameof(ScalerOptions.Url)]))
        {
            builder.Services.AddSingleton<ScalerServer>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<ScalerServer>());
        }

        return builder;
    }
}
