namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>How inference timesteps are picked from the training ones; diffusers' <c>timestep_spacing</c>.</summary>
public enum TimestepSpacing
{
    /// <summary><c>linspace</c>: evenly from the last training timestep down to 0, both ends included.</summary>
    Linspace,

    /// <summary><c>leading</c>: multiples of <c>train / steps</c> counted up from 0, plus <c>steps_offset</c>.</summary>
    Leading,

    /// <summary><c>trailing</c>: multiples of <c>train / steps</c> counted down from the last training timestep.</summary>
    Trailing,
}
