namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>The sampling algorithms the engine implements, named after their diffusers classes.</summary>
public enum SchedulerKind
{
    /// <summary>EulerDiscreteScheduler (A1111 "Euler").</summary>
    Euler,

    /// <summary>EulerAncestralDiscreteScheduler (A1111 "Euler a").</summary>
    EulerAncestral,

    /// <summary>DDIMScheduler with eta 0 (A1111 "DDIM").</summary>
    Ddim,

    /// <summary>PNDMScheduler: PLMS (A1111 "PLMS"), after a Runge-Kutta warm-up unless the config sets skip_prk_steps.</summary>
    Pndm,

    /// <summary>LMSDiscreteScheduler, order 4 (A1111 "LMS").</summary>
    Lms,

    /// <summary>DPMSolverMultistepScheduler, dpmsolver++, order 2 (A1111 "DPM++ 2M").</summary>
    DpmPlusPlus2M,

    /// <summary>LCMScheduler, for latent consistency models (A1111 "LCM").</summary>
    Lcm,
}
