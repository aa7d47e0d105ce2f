namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>
/// Reported after every denoising step. A struct, so that reporting allocates nothing unless a preview was rendered.
/// </summary>
/// <param name="Step">Steps done so far (1-based after the first step).</param>
/// <param name="TotalSteps">UNet evaluations this job runs (after img2img's strength has cut the schedule).</param>
/// <param name="Elapsed">Time since the job started, text encoding included.</param>
/// <param name="Preview">A cheap JPEG of image 0 computed from the latents without the VAE, when one was due.</param>
public readonly record struct GenerationProgress(int Step, int TotalSteps, TimeSpan Elapsed, byte[]? Preview);
