using System.Text.RegularExpressions;

namespace OrleansDiffusion.Deploy.Tests;

/// <summary>One setting given to a process by a deploy artefact.</summary>
internal sealed record Setting(string Source, string Name, string? Value)
{
    public override string ToString() => $"{Source}: {Name}={Value}";
}

/// <summary>Every environment variable and command-line setting the deploy artefacts give the processes.</summary>
internal static partial class Settings
{
    public static IEnumerable<Setting> All() => Kubernetes().Concat(Compose()).Concat(Dockerfiles()).Concat(Script());

    public static IEnumerable<Setting> Kubernetes() =>
        from o in Repo.K8sObjects()
        where Y.Str(o, "kind") == "Deployment"
        from c in Y.Containers(o)
        from e in Y.Maps(c.GetValueOrDefault("env"))
        select new Setting($"k8s {Y.Str(o, "metadata", "name")}", Y.Str(e, "name")!, Y.Str(e, "value"));

    public static IEnumerable<Setting> Compose() =>
        from s in Y.Map(Repo.Compose()["services"])
        let env = Y.Get(s.Value, "environment") as Dictionary<object, object>
        where env is not null
        from e in env
        let value = e.Value?.ToString()
        select new Setting($"compose {s.Key}", e.Key.ToString()!, value is not null && value.Contains("${", StringComparison.Ordinal) ? null : value);

    public static IEnumerable<Setting> Dockerfiles() =>
        from f in Repo.DeployFiles(".Dockerfile")
        from m in EnvAssignment().Matches(JoinContinuations(File.ReadAllText(f)))
        select new Setting(Path.GetFileName(f), m.Groups[1].Value, m.Groups[2].Value);

    public static IEnumerable<Setting> Script() =>
        from m in ScriptSetting().Matches(Repo.Read("deploy/local/run-cluster.sh"))
        let value = m.Groups[2].Value
        select new Setting("run-cluster.sh", m.Groups[1].Value.Replace(":", "__", StringComparison.Ordinal), value.Contains('$', StringComparison.Ordinal) ? null : value);

    public static string JoinContinuations(string text) => text.Replace("\\\n", " ", StringComparison.Ordinal);

    /// <summary>KEY=value pairs on ENV lines (continuations joined).</summary>
    [GeneratedRegex(@"(?<=^ENV\s.*?)(?<![\w$])([A-Za-z_][A-Za-z0-9_]*)=(\S+)", RegexOptions.Multiline)]
    private static partial Regex EnvAssignment();

    [GeneratedRegex(@"--(Diffusion:[A-Za-z0-9:]+)=([^""\s]*)")]
    private static partial Regex ScriptSetting();
}
