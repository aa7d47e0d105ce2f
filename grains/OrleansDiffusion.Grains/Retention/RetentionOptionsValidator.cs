using Microsoft.Extensions.Options;
using OrleansDiffusion.Grains.Hosting;

namespace OrleansDiffusion.Grains.Retention;

/// <summary>Stops the silo at start on retention periods that would delete what is still shown, with the keys named.</summary>
internal sealed class RetentionOptionsValidator : IValidateOptions<DiffusionOptions>
{
    public const string Section = DiffusionOptions.SectionName + ":Retention";

    public ValidateOptionsResult Validate(string? name, DiffusionOptions options)
    {
        var failures = options.Retention.Validate(Section);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
