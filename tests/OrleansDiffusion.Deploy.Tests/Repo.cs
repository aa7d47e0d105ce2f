using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace OrleansDiffusion.Deploy.Tests;

/// <summary>The repository checkout and parsed views of its deploy/ folder.</summary>
internal static class Repo
{
    public static readonly string Root = FindRoot();

    public static string Deploy => Path.Combine(Root, "deploy");

    public static string PathOf(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    public static string Read(string relative) => File.ReadAllText(PathOf(relative));

    public static IEnumerable<string> DeployFiles(params string[] extensions) =>
        Directory.EnumerateFiles(Deploy, "*", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}.terraform", StringComparison.Ordinal))
            .Where(f => extensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            .Order(StringComparer.Ordinal);

    /// <summary>Every document of a YAML file, with anchors, aliases and merge keys resolved.</summary>
    public static List<object?> LoadYaml(string path)
    {
        using var reader = new StringReader(File.ReadAllText(path));
        var parser = new MergingParser(new Parser(reader));
        var deserializer = new DeserializerBuilder().Build();
        var documents = new List<object?>();
        parser.Consume<StreamStart>();
        while (!parser.Accept<StreamEnd>(out _))
        {
            documents.Add(deserializer.Deserialize(parser));
        }

        return documents.Where(d => d is not null).ToList();
    }

    public static List<Dictionary<object, object>> K8sObjects() =>
        DeployFiles(".yaml").Where(f => f.Contains($"{Path.DirectorySeparatorChar}k8s{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(LoadYaml).Select(Y.Map).ToList();

    public static Dictionary<object, object> K8s(string kind, string name) =>
        K8sObjects().Single(o => Y.Str(o, "kind") == kind && Y.Str(o, "metadata", "name") == name);

    public static Dictionary<object, object> Compose() => Y.Map(LoadYaml(PathOf("deploy/docker/compose.yaml")).Single());

    /// <summary>The default ports of deploy/local/run-cluster.sh: its <c>NAME="${NAME:-NUMBER}"</c> assignments.</summary>
    public static Dictionary<string, int> ScriptPorts() =>
        Regex.Matches(Read("deploy/local/run-cluster.sh"), @"^([A-Z0-9_]+_PORT)=""\$\{\1:-(\d+)\}""$", RegexOptions.Multiline)
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "OrleansDiffusion.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("OrleansDiffusion.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>Navigation over the deserialized YAML object graph.</summary>
internal static class Y
{
    public static Dictionary<object, object> Map(object? node) =>
        node as Dictionary<object, object> ?? throw new InvalidOperationException($"Expected a mapping, got {node?.GetType().Name ?? "null"}.");

    public static List<object> List(object? node) =>
        node as List<object> ?? throw new InvalidOperationException($"Expected a sequence, got {node?.GetType().Name ?? "null"}.");

    public static object? Get(object? node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not Dictionary<object, object> map || !map.TryGetValue(key, out node))
            {
                return null;
            }
        }

        return node;
    }

    public static string? Str(object? node, params string[] path) => Get(node, path)?.ToString();

    public static IEnumerable<Dictionary<object, object>> Maps(object? node) =>
        node is List<object> list ? list.Select(Map) : [];

    /// <summary>Every mapping in the graph (depth first), for "find all httpGet" style checks.</summary>
    public static IEnumerable<Dictionary<object, object>> AllMaps(object? node)
    {
        if (node is Dictionary<object, object> map)
        {
            yield return map;
            foreach (var value in map.Values)
            {
                foreach (var inner in AllMaps(value))
                {
                    yield return inner;
                }
            }
        }
        else if (node is List<object> list)
        {
            foreach (var item in list)
            {
                foreach (var inner in AllMaps(item))
                {
                    yield return inner;
                }
            }
        }
    }

    public static IEnumerable<Dictionary<object, object>> Containers(Dictionary<object, object> deployment) =>
        Maps(Get(deployment, "spec", "template", "spec", "containers"));
}
