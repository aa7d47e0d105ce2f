namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>How the sigmas of a run are laid out between the largest and the smallest.</summary>
internal enum SigmaSpread
{
    /// <summary>Read off the training schedule at the spaced timesteps.</summary>
    Interpolated,

    /// <summary>Karras et al. (2022): evenly spaced in sigma^(1/7) (<c>use_karras_sigmas</c>).</summary>
    Karras,

    /// <summary>Evenly spaced in log sigma (<c>use_exponential_sigmas</c>).</summary>
    Exponential,

    /// <summary>DPM-Solver's uniform log-SNR steps (<c>use_lu_lambdas</c>); the same sigmas as exponential, rounded timesteps.</summary>
    LuLambdas,
}
