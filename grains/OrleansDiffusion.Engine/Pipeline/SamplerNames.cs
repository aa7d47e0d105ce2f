using OrleansDiffusion.Engine.Schedulers;

namespace OrleansDiffusion.Engine.Pipeline;

/// <summary>The AUTOMATIC1111 display names of the samplers, as infotexts and A1111 clients use them.</summary>
public static class SamplerNames
{
    public static string Display(SchedulerKind kind) => kind switch
    {
        SchedulerKind.Euler => "Euler",
        SchedulerKind.EulerAncestral => "Euler a",
        SchedulerKind.Ddim => "DDIM",
        SchedulerKind.Pndm => "PLMS",
        SchedulerKind.Lms => "LMS",
        SchedulerKind.DpmPlusPlus2M => "DPM++ 2M",
        SchedulerKind.Lcm => "LCM",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
