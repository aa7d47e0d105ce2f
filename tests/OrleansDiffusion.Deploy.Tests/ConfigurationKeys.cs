using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.RunPod;
using OrleansDiffusion.Api.Scaling;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Storage;
using OrleansDiffusion.Hosting;

namespace OrleansDiffusion.Deploy.Tests;

/// <summary>
/// Resolves a configuration key (<c>Diffusion:Cluster:SiloPort</c>, or the environment form with <c>__</c>) to the
/// options property it binds, by reflection over the options classes the code binds.
/// </summary>
internal static class ConfigurationKeys
{
    /// <summary>
    /// Sections bound to their own options class (the rest of <c>Diffusion</c> is <see cref="DiffusionOptions"/>, with
    /// <c>Diffusion:Scaling</c> its nested <see cref="DiffusionOptions.Scaling"/>).
    /// </summary>
    private static readonly Dictionary<string, Type> Sections = new(StringComparer.OrdinalIgnoreCase)
    {
        [ClusterHostingOptions.SectionName] = typeof(ClusterHostingOptions),
        [ImageStoreOptions.SectionName] = typeof(ImageStoreOptions),
        [ApiOptions.SectionName] = typeof(ApiOptions),
        [ScalerOptions.SectionName] = typeof(ScalerOptions),
        [RunPodOptions.SectionName] = typeof(RunPodOptions),
        [DiffusionOptions.SectionName] = typeof(DiffusionOptions),
    };

    public static string FromEnvironment(string name) => name.Replace("__", ":", StringComparison.Ordinal);

    /// <summary>The type the key binds to, or an error naming the first segment that binds nothing.</summary>
    public static (Type? Type, string? Error) Resolve(string key)
    {
        var section = Sections.Keys.OrderByDescending(s => s.Length)
            .FirstOrDefault(s => key.StartsWith(s + ":", StringComparison.OrdinalIgnoreCase));
        if (section is null)
        {
            return (null, $"{key}: not under a Diffusion section");
        }

        var type = Sections[section];
        foreach (var segment in key[(section.Length + 1)..].Split(':'))
        {
            var element = ListElement(type);
            if (element is not null)
            {
                if (!int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    return (null, $"{key}: '{segment}' is not a list index of {type.Name}");
                }

                type = element;
                continue;
            }

            var property = type.GetProperty(segment, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || !property.CanWrite)
            {
                return (null, $"{key}: {type.Name} has no settable property '{segment}'");
            }

            type = property.PropertyType;
        }

        return IsLeaf(type) ? (type, null) : (null, $"{key}: {type.Name} is a section, not a value");
    }

    /// <summary>Whether a literal value converts to the bound type the way the configuration binder converts it.</summary>
    public static bool Converts(Type type, string value)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string))
        {
            return true;
        }

        if (target.IsEnum)
        {
            return Enum.TryParse(target, value, ignoreCase: true, out _);
        }

        try
        {
            TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or OverflowException || e.InnerException is FormatException or OverflowException)
        {
            return false;
        }
    }

    private static Type? ListElement(Type type) =>
        type != typeof(string) && type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type) ? type.GetGenericArguments()[0] : null;

    private static bool IsLeaf(Type type)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        return target.IsPrimitive || target.IsEnum || target == typeof(string) || target == typeof(TimeSpan) || target == typeof(decimal);
    }
}
