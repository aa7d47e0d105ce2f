namespace OrleansDiffusion.Grains.Retention;

/// <summary>What a retention mark stands for; each kind has its own dated list in the store.</summary>
public enum RetentionKind
{
    /// <summary>A job record, by job id, dated at its creation.</summary>
    Jobs,

    /// <summary>A result-cache entry (and through it its images), by request key, dated at the inference's end.</summary>
    Results,

    /// <summary>An uploaded input (init image or inpainting mask), by the hex of its key, dated at an upload or use.</summary>
    Inputs,

    /// <summary>An inference that uses an input (<c>{input hex}.{request key}</c>), dated when it was queued or last seen running.</summary>
    InputUses,
}
