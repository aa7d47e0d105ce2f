namespace OrleansDiffusion.Engine.Schedulers;

/// <summary>Argument checks shared by the schedulers; they throw only on misuse, so the hot path stays allocation-free.</summary>
internal static class SchedulerGuard
{
    public static void CheckInferenceSteps(int inferenceSteps, int sampleLength, int trainTimesteps)
    {
        if (inferenceSteps < 1 || inferenceSteps > trainTimesteps)
        {
            throw new ArgumentOutOfRangeException(
                nameof(inferenceSteps), inferenceSteps, $"Inference steps must lie in [1, {trainTimesteps}] (the training timesteps).");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(sampleLength, 1);
    }

    public static void CheckStep(int stepCount, int sampleLength, int stepIndex, int modelOutputLength, int sampleSpanLength)
    {
        if (sampleLength == 0)
        {
            throw new InvalidOperationException("SetTimesteps must be called before Step.");
        }

        CheckIndex(stepIndex, stepCount);
        if (modelOutputLength != sampleLength || sampleSpanLength != sampleLength)
        {
            throw new ArgumentException(
                $"Model output ({modelOutputLength}) and sample ({sampleSpanLength}) must both hold {sampleLength} floats, as given to SetTimesteps.");
        }
    }

    public static void CheckAddNoise(int stepCount, int stepIndex, int originalLength, int noiseLength, int destinationLength)
    {
        if (stepCount == 0)
        {
            throw new InvalidOperationException("SetTimesteps must be called before AddNoise.");
        }

        CheckIndex(stepIndex, stepCount);
        if (noiseLength != originalLength || destinationLength != originalLength)
        {
            throw new ArgumentException(
                $"Original ({originalLength}), noise ({noiseLength}) and destination ({destinationLength}) must have the same length.");
        }
    }

    public static void CheckIndex(int stepIndex, int stepCount)
    {
        if (stepCount == 0)
        {
            throw new InvalidOperationException("SetTimesteps must be called first.");
        }

        if ((uint)stepIndex >= (uint)stepCount)
        {
            throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"Step index must lie in [0, {stepCount}).");
        }
    }

    /// <summary>Multistep history is only meaningful when steps follow one another; catch a skipped or repeated step.</summary>
    public static void CheckConsecutive(int expectedStepIndex, int stepIndex)
    {
        if (expectedStepIndex >= 0 && stepIndex != expectedStepIndex)
        {
            throw new InvalidOperationException(
                $"This multistep scheduler expected step {expectedStepIndex} but was given {stepIndex}; call SetTimesteps to start over.");
        }
    }

    public static void RejectKarras(bool karrasSigmas, SchedulerKind kind)
    {
        if (karrasSigmas)
        {
            throw new ArgumentException(
                $"The {kind} scheduler works on discrete timesteps and has no Karras sigma schedule; Karras sigmas are available for Euler, EulerAncestral, Lms and DpmPlusPlus2M.",
                nameof(karrasSigmas));
        }
    }
}
