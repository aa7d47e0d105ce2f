using System.Text.RegularExpressions;

namespace OrleansDiffusion.Deploy.Tests;

public sealed partial class AlertTests
{
    /// <summary>Series from outside this code base that the rules may use.</summary>
    private static readonly HashSet<string> External =
    [
        // ASP.NET Core's "Microsoft.AspNetCore.Hosting" meter (http.server.request.duration, unit s), which the API exports.
        "http_server_request_duration_seconds_bucket", "http_server_request_duration_seconds_count", "http_server_request_duration_seconds_sum",
        // Prometheus' own.
        "up",
        // kube-state-metrics': the silo Deployment's available replicas, against the scaling signal.
        "kube_deployment_status_replicas_available",
    ];

    private static readonly string[] PromQlWords =
    [
        "sum", "max", "min", "avg", "by", "without", "rate", "increase", "irate", "histogram_quantile", "clamp_min", "le", "job",
        "instance", "http_response_status_code", "http_route", "and", "or", "unless", "on", "ignoring", "count",
    ];

    [Fact]
    public void Metric_names_derived_from_the_code_include_the_documented_ones()
    {
        var derived = DerivedSeries();

        // docs/operations.md holds the metrics reference; the README and the other docs/ pages name series too.
        Assert.Matches(@"`diffusion_[a-z_]+`", Repo.Read("docs/operations.md"));
        var documents = Directory.EnumerateFiles(Repo.PathOf("docs"), "*.md", SearchOption.AllDirectories).Append(Repo.PathOf("README.md"));
        foreach (var document in documents)
        {
            foreach (Match m in Regex.Matches(File.ReadAllText(document), @"`(diffusion_[a-z_]+)`"))
            {
                Assert.True(derived.Contains(m.Groups[1].Value) || derived.Contains(m.Groups[1].Value + "_count"), $"{Path.GetFileName(document)}: {m.Groups[1].Value}");
            }
        }
    }

    [Fact]
    public void Rules_are_well_formed()
    {
        var rules = Rules().ToList();
        Assert.True(rules.Count >= 6);
        Assert.Equal(rules.Count, rules.Select(r => Y.Str(r, "alert")).Distinct().Count());
        Assert.All(rules, r =>
        {
            Assert.False(string.IsNullOrWhiteSpace(Y.Str(r, "alert")));
            Assert.False(string.IsNullOrWhiteSpace(Y.Str(r, "expr")));
            Assert.Matches(@"^\d+[smh]$", Y.Str(r, "for"));
            Assert.Contains(Y.Str(r, "labels", "severity"), new[] { "page", "ticket" });
            Assert.False(string.IsNullOrWhiteSpace(Y.Str(r, "annotations", "summary")));
            Assert.Equal(Y.Str(r, "expr")!.Count(c => c == '('), Y.Str(r, "expr")!.Count(c => c == ')'));
        });
    }

    [Fact]
    public void Rules_use_only_series_the_code_exports()
    {
        var known = DerivedSeries();
        known.UnionWith(External);
        foreach (var rule in Rules())
        {
            var expr = Regex.Replace(Y.Str(rule, "expr")!, @"\{[^}]*\}|""[^""]*""|\[[^\]]*\]", " ");
            foreach (var name in Identifier().Matches(expr).Select(m => m.Value).Where(n => !PromQlWords.Contains(n)))
            {
                Assert.True(known.Contains(name), $"{Y.Str(rule, "alert")}: unknown series {name}");
            }
        }
    }

    [Fact]
    public void The_required_signals_are_alerted_on()
    {
        var exprs = string.Join('\n', Rules().Select(r => Y.Str(r, "expr")));
        Assert.Matches(@"http_server_request_duration_seconds_count\{[^}]*http_response_status_code=~""5\.\.""", exprs);
        Assert.Matches(@"histogram_quantile\(0\.99,[\s\S]*http_server_request_duration_seconds_bucket", exprs);
        foreach (var name in new[] { "diffusion_queue_oldest_age_seconds", "diffusion_queue_depth", "diffusion_inference_failures_total", "diffusion_work_requeued_total", "diffusion_model_loads_total", "diffusion_model_load_failures_total", "diffusion_desired_silos" })
        {
            Assert.Contains(name, exprs, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// The Prometheus series of the instruments DiffusionMetrics creates, named as the OpenTelemetry Prometheus
    /// exporter names them: unit "s" appends _seconds, counters get _total, histograms _bucket/_sum/_count.
    /// </summary>
    internal static HashSet<string> DerivedSeries()
    {
        var source = Repo.Read("grains/OrleansDiffusion.Grains/Hosting/DiffusionMetrics.cs");
        var series = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in Instrument().Matches(source))
        {
            var kind = m.Groups["kind"].Value;
            var name = m.Groups["name"].Value;
            if (Regex.Match(m.Groups["rest"].Value, @"unit:\s*""([^""]*)""").Groups[1].Value == "s" && !name.EndsWith("_seconds", StringComparison.Ordinal))
            {
                name += "_seconds";
            }

            switch (kind)
            {
                case "Counter" or "ObservableCounter":
                    series.Add(name + "_total");
                    break;
                case "Histogram":
                    series.UnionWith([name + "_bucket", name + "_sum", name + "_count"]);
                    break;
                default:
                    series.Add(name);
                    break;
            }
        }

        Assert.True(series.Count >= 14, $"only {series.Count} series parsed from DiffusionMetrics.cs");
        return series;
    }

    private static IEnumerable<Dictionary<object, object>> Rules()
    {
        var file = Y.Map(Repo.LoadYaml(Repo.PathOf("deploy/monitoring/alerts.yaml")).Single());
        return Y.Maps(file["groups"]).SelectMany(g =>
        {
            Assert.False(string.IsNullOrWhiteSpace(Y.Str(g, "name")));
            return Y.Maps(g["rules"]);
        });
    }

    [GeneratedRegex(@"Create(?<kind>Counter|Histogram|UpDownCounter|ObservableGauge|ObservableCounter|ObservableUpDownCounter|Gauge)(?:<[^>]+>)?\(""(?<name>[a-z0-9_]+)""(?<rest>[^;]*);")]
    private static partial Regex Instrument();

    [GeneratedRegex(@"\b[a-z_][a-z0-9_]*\b")]
    private static partial Regex Identifier();
}
