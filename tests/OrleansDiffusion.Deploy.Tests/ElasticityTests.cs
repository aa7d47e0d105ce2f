using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Scaling;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Scaling;

namespace OrleansDiffusion.Deploy.Tests;

/// <summary>
/// The elastic deployment: KEDA's ScaledObject drives the GPU silos from the API's external scaler, which serves the
/// queue's signal (<c>Diffusion:Scaling</c>); control silos keep the grains while no GPU silo runs.
/// </summary>
public sealed class ElasticityTests
{
    private const string ScalingPrefix = "Diffusion__Scaling__";

    private static Dictionary<object, object> Gpu => Repo.K8s("Deployment", "diffusion-silo");

    private static Dictionary<object, object> Control => Repo.K8s("Deployment", "diffusion-control");

    private static Dictionary<object, object> Api => Repo.K8s("Deployment", "diffusion-api");

    private static Dictionary<object, object> ScaledObject => Repo.K8sObjects().Single(o => Y.Str(o, "kind") == "ScaledObject");

    private static Dictionary<object, object> Trigger => Y.Maps(Y.Get(ScaledObject, "spec", "triggers")).Single();

    // ---- the ScaledObject ----

    [Fact]
    public void Scaled_object_drives_the_gpu_silo_deployment_alone()
    {
        var scaled = ScaledObject;
        Assert.Equal("keda.sh/v1alpha1", Y.Str(scaled, "apiVersion"));
        Assert.Equal(Y.Str(Gpu, "metadata", "namespace"), Y.Str(scaled, "metadata", "namespace"));
        Assert.Equal("diffusion-silo", Y.Str(scaled, "spec", "scaleTargetRef", "name"));
        Assert.Contains(Y.Str(scaled, "spec", "scaleTargetRef", "kind"), new[] { null, "Deployment" });
        Assert.Contains(Y.Str(scaled, "spec", "scaleTargetRef", "apiVersion"), new[] { null, "apps/v1" });

        // KEDA owns the replicas: a fixed count would be reset by every apply, another HPA would fight KEDA's.
        Assert.Null(Y.Get(Gpu, "spec", "replicas"));
        Assert.DoesNotContain(Repo.K8sObjects(), o => Y.Str(o, "kind") == "HorizontalPodAutoscaler" && Y.Str(o, "spec", "scaleTargetRef", "name") is "diffusion-silo" or "diffusion-control");
        Assert.Contains("scaledobject.yaml", Repo.Read("deploy/k8s/kustomization.yaml"), StringComparison.Ordinal);
    }

    [Fact]
    public void Scaled_object_bounds_are_the_signal_bounds()
    {
        var scaling = ScalingSettings(Gpu);
        var min = Int(Y.Str(ScaledObject, "spec", "minReplicaCount"));
        var max = Int(Y.Str(ScaledObject, "spec", "maxReplicaCount"));
        Assert.Equal(Int(scaling["MinSilos"]), min);
        Assert.Equal(Int(scaling["MaxSilos"]), max);
        Assert.Equal(0, min);
        Assert.True(max >= 1);

        // One silo per GPU node: more silos than the GPU pool's largest size would stay Pending.
        var nodes = Regex.Match(Repo.Read("deploy/terraform/azure/variables.tf"), @"variable ""gpu_node_max_count"" \{[^}]*default\s*=\s*(\d+)");
        Assert.True(nodes.Success);
        Assert.True(max <= Int(nodes.Groups[1].Value), $"maxReplicaCount {max} > gpu_node_max_count {nodes.Groups[1].Value}");
        Assert.Equal("1", Y.Str(Y.Containers(Gpu).Single(), "resources", "limits", "nvidia.com/gpu"));
    }

    [Fact]
    public void Scaled_object_timing_leaves_damping_to_the_signal()
    {
        var scaling = ScalingSettings(Gpu);
        var scaleInDelay = TimeSpan.Parse(scaling["ScaleInDelay"], CultureInfo.InvariantCulture);
        var scaleToZeroAfter = TimeSpan.Parse(scaling["ScaleToZeroAfter"], CultureInfo.InvariantCulture);
        var spec = Y.Get(ScaledObject, "spec");
        var polling = Int(Y.Str(spec, "pollingInterval"));
        var cooldown = Int(Y.Str(spec, "cooldownPeriod"));
        Assert.InRange(polling, 5, 30);
        Assert.InRange(cooldown, 1, scaleToZeroAfter.TotalSeconds);

        // The signal holds its peak for ScaleInDelay: the HPA's own scale-down window is shorter, not on top of a longer one.
        var window = Int(Y.Str(spec, "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown", "stabilizationWindowSeconds"));
        Assert.InRange(window, 0, scaleInDelay.TotalSeconds);

        // The fallback holds silos when the scaler fails; it works only for AverageValue metrics.
        Assert.True(Int(Y.Str(spec, "fallback", "failureThreshold")) >= 1);
        Assert.InRange(Int(Y.Str(spec, "fallback", "replicas")), 1, Int(Y.Str(spec, "maxReplicaCount")));
        Assert.Contains(Y.Str(Trigger, "metricType"), new[] { null, "AverageValue" });
    }

    [Fact]
    public void Scaled_object_uses_the_external_scaler_and_its_metric()
    {
        Assert.Contains(Y.Str(Trigger, "type"), new[] { "external", "external-push" });
        Assert.Matches(@"^[a-z0-9.-]+:\d+$", Y.Str(Trigger, "metadata", "scalerAddress"));

        // The one metric the scaler reports is the gauge the silos export (named in the docs and the alerts).
        Assert.Contains(KedaExternalScaler.MetricName, AlertTests.DerivedSeries());
        Assert.Contains(KedaExternalScaler.MetricName, Repo.Read("deploy/k8s/README.md"), StringComparison.Ordinal);
    }

    // ---- the scaler endpoint ----

    [Fact]
    public void Scaler_address_reaches_the_api_scaler_listener()
    {
        // host:port, the host a Service name as cluster DNS resolves it: svc, svc.ns, svc.ns.svc or svc.ns.svc.cluster.local.
        var address = Regex.Match(Y.Str(Trigger, "metadata", "scalerAddress")!, @"^(?<svc>[a-z0-9-]+)(?:\.(?<ns>[a-z0-9-]+)(?:\.svc(?:\.cluster\.local)?)?)?:(?<port>\d+)$");
        Assert.True(address.Success, Y.Str(Trigger, "metadata", "scalerAddress"));
        var port = Int(address.Groups["port"].Value);
        Assert.Equal("diffusion-scaler", address.Groups["svc"].Value);
        var service = Repo.K8s("Service", address.Groups["svc"].Value);
        var ns = address.Groups["ns"].Success ? address.Groups["ns"].Value : Y.Str(ScaledObject, "metadata", "namespace");
        Assert.Equal(ns, Y.Str(service, "metadata", "namespace"));
        Assert.Equal(ns, Y.Str(Y.Map(Repo.LoadYaml(Repo.PathOf("deploy/k8s/kustomization.yaml")).Single()), "namespace"));
        Assert.Equal("ClusterIP", Y.Str(service, "spec", "type") ?? "ClusterIP");
        Assert.Null(Y.Get(service, "spec", "clusterIP"));

        // Service port -> named container port of the API -> the port of Diffusion:Scaler:Url.
        var servicePort = Y.Maps(Y.Get(service, "spec", "ports")).Single(p => Int(Y.Str(p, "port")) == port);
        Assert.Equal("scaler", Y.Str(servicePort, "targetPort"));
        Assert.Equal("kubernetes.io/h2c", Y.Str(servicePort, "appProtocol"));
        Assert.True(ArtefactTests.Matches(Y.Map(Y.Get(service, "spec", "selector")), ArtefactTests.PodLabels(Api)));
        var containerPort = ArtefactTests.ContainerPorts(Api)["scaler"];
        var url = ArtefactTests.Env(Api)["Diffusion__Scaler__Url"]!;
        Assert.Equal(containerPort, ArtefactTests.UrlPort(url));
        Assert.NotEqual(ArtefactTests.ContainerPorts(Api)["http"], containerPort);
    }

    [Fact]
    public void Scaler_url_of_the_manifest_passes_the_api_validation()
    {
        var url = ArtefactTests.Env(Api)["Diffusion__Scaler__Url"]!;
        Assert.Equal(typeof(string), ConfigurationKeys.Resolve(ConfigurationKeys.FromEnvironment("Diffusion__Scaler__Url")).Type);
        Assert.Equal(nameof(ScalerOptions.Url), ConfigurationKeys.FromEnvironment("Diffusion__Scaler__Url").Split(':')[^1]);
        Assert.Equal("Diffusion:Scaler", ScalerOptions.SectionName);

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [$"--{ScalerOptions.SectionName}:Url={url}"] });
        builder.AddKedaScaler();
        Assert.Contains(builder.Services, d => d.ServiceType == typeof(ScalerServer));
        using var app = builder.Build();
        Assert.Equal(url, app.Services.GetRequiredService<IOptions<ScalerOptions>>().Value.Url);

        var bad = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [$"--{ScalerOptions.SectionName}:Url=https://+:8082"] });
        bad.AddKedaScaler();
        using var badApp = bad.Build();
        Assert.Throws<OptionsValidationException>(() => badApp.Services.GetRequiredService<IOptions<ScalerOptions>>().Value);
    }

    [Fact]
    public void Unauthenticated_scaler_is_kept_off_the_public_service_and_fenced_to_keda()
    {
        // The public Service does not carry the scaler port.
        var publicService = Repo.K8s("Service", "diffusion-api");
        var scalerPort = ArtefactTests.ContainerPorts(Api)["scaler"];
        Assert.All(Y.Maps(Y.Get(publicService, "spec", "ports")), p =>
        {
            Assert.NotEqual("scaler", Y.Str(p, "targetPort"));
            Assert.NotEqual(scalerPort.ToString(CultureInfo.InvariantCulture), Y.Str(p, "targetPort"));
        });

        // The NetworkPolicy on the API pods: the scaler port from the keda namespace only, the HTTP port from anywhere
        // (a selected pod accepts only what a policy allows: forgetting it would cut the API off).
        var policy = Repo.K8sObjects().Single(o => Y.Str(o, "kind") == "NetworkPolicy" && ArtefactTests.Matches(Y.Map(Y.Get(o, "spec", "podSelector", "matchLabels")), ArtefactTests.PodLabels(Api)));
        Assert.Equal("networking.k8s.io/v1", Y.Str(policy, "apiVersion"));
        var rules = Y.Maps(Y.Get(policy, "spec", "ingress")).ToList();
        IEnumerable<Dictionary<object, object>> RulesFor(string portName) =>
            rules.Where(r => Y.Maps(r.GetValueOrDefault("ports")).Any(p => Y.Str(p, "port") == portName) || r.GetValueOrDefault("ports") is null);

        var scaler = RulesFor("scaler").ToList();
        Assert.NotEmpty(scaler);
        Assert.All(scaler, r =>
        {
            var from = Y.Maps(r.GetValueOrDefault("from")).ToList();
            Assert.NotEmpty(from);
            Assert.All(from, f => Assert.Equal("keda", Y.Str(f, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")));
        });
        Assert.Contains(RulesFor("http"), r => r.GetValueOrDefault("from") is null);
        Assert.Contains("kubernetes.io/metadata.name", Repo.Read("deploy/k8s/README.md"), StringComparison.Ordinal);
    }

    // ---- control and GPU silos ----

    [Fact]
    public void Control_and_gpu_silos_compute_the_same_signal()
    {
        var gpu = ScalingSettings(Gpu);
        var control = ScalingSettings(Control);
        Assert.Equal(gpu.OrderBy(k => k.Key), control.OrderBy(k => k.Key));

        // Every knob explicit, WorkPerSilo above all: its default (0) means the hosting silo's Capacity, 0 on a control silo.
        // It counts units of work, not requests: at least one default request's.
        var names = typeof(ScalingOptions).GetProperties().Select(p => p.Name).Order();
        Assert.Equal(names, gpu.Keys.Order());
        Assert.True(Int(gpu["WorkPerSilo"]) >= ScalingOptions.UnitsPerSlot);

        // The values pass the silo's own validation.
        var options = new ScalingOptions
        {
            MinSilos = Int(gpu["MinSilos"]),
            MaxSilos = Int(gpu["MaxSilos"]),
            WorkPerSilo = Int(gpu["WorkPerSilo"]),
            ScaleInDelay = TimeSpan.Parse(gpu["ScaleInDelay"], CultureInfo.InvariantCulture),
            ScaleToZeroAfter = TimeSpan.Parse(gpu["ScaleToZeroAfter"], CultureInfo.InvariantCulture),
        };
        Assert.Equal(0, options.MinSilos);
        Assert.True(options.MaxSilos >= 1);
        Assert.True(options.ScaleToZeroAfter > TimeSpan.Zero && options.ScaleInDelay > TimeSpan.Zero);
    }

    [Fact]
    public void Control_silos_join_the_same_cluster_as_the_gpu_silos()
    {
        var gpu = ArtefactTests.Env(Gpu, withRefs: true);
        var control = ArtefactTests.Env(Control, withRefs: true);
        foreach (var key in gpu.Keys.Where(k => k.StartsWith("Diffusion__Cluster__", StringComparison.Ordinal) || k.StartsWith("Diffusion__ImageStore__", StringComparison.Ordinal) || k.StartsWith("Diffusion__Models__", StringComparison.Ordinal) || k.StartsWith("ORLEANS_", StringComparison.Ordinal) || k.StartsWith("POD_", StringComparison.Ordinal) || k == "Urls"))
        {
            Assert.True(control.ContainsKey(key), key);
            Assert.Equal(gpu[key], control[key]);
        }

        var gpuLabels = ArtefactTests.PodLabels(Gpu);
        var controlLabels = ArtefactTests.PodLabels(Control);
        Assert.Equal(gpuLabels["orleans/serviceId"], controlLabels["orleans/serviceId"]);
        Assert.Equal(gpuLabels["orleans/clusterId"], controlLabels["orleans/clusterId"]);
        Assert.Equal(Y.Str(Gpu, "spec", "template", "spec", "serviceAccountName"), Y.Str(Control, "spec", "template", "spec", "serviceAccountName"));
        Assert.Equal(ArtefactTests.ContainerPorts(Gpu), ArtefactTests.ContainerPorts(Control));
        Assert.Equal(Y.Str(Y.Containers(Gpu).Single(), "image"), Y.Str(Y.Containers(Control).Single(), "image"));

        // The same model volume, read-only (the catalog fingerprints the folders; the fingerprint is in request keys).
        Assert.Equal(Volumes(Gpu)["models"], Volumes(Control)["models"]);
        var mount = Y.Maps(Y.Containers(Control).Single()["volumeMounts"]).Single(m => Y.Str(m, "name") == "models");
        Assert.Equal("true", Y.Str(mount, "readOnly"), ignoreCase: true);
        Assert.Equal(Y.Str(Y.Maps(Y.Containers(Gpu).Single()["volumeMounts"]).Single(m => Y.Str(m, "name") == "models"), "mountPath"), Y.Str(mount, "mountPath"));
    }

    [Fact]
    public void Control_silos_run_no_inference_and_take_no_gpu()
    {
        var env = ArtefactTests.Env(Control);
        Assert.Equal("0", env["Diffusion__Capacity"]);
        var capacityZero = new DiffusionOptions { Capacity = 0 };
        var errors = new List<ValidationResult>();
        Assert.True(Validator.TryValidateObject(capacityZero, new ValidationContext(capacityZero), errors, validateAllProperties: true), string.Join("; ", errors));
        Assert.Equal("cpu", env["Diffusion__Provider"]);
        Assert.DoesNotContain(env.Keys, k => k.StartsWith("Diffusion__WarmModels", StringComparison.Ordinal) || k == "Diffusion__PreloadWarmModels");

        var pod = Y.Get(Control, "spec", "template", "spec");
        Assert.Null(Y.Get(pod, "nodeSelector"));
        Assert.Null(Y.Get(pod, "tolerations"));
        Assert.Null(Y.Get(pod, "runtimeClassName"));
        var resources = Y.Get(Y.Containers(Control).Single(), "resources");
        Assert.NotNull(Y.Get(resources, "requests", "cpu"));
        Assert.NotNull(Y.Get(resources, "limits", "memory"));
        Assert.DoesNotContain(Y.AllMaps(resources).SelectMany(m => m.Keys), k => k.ToString()!.Contains("gpu", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Control_silos_are_a_fixed_pair_that_drains_keep_one_of()
    {
        var replicas = Int(Y.Str(Control, "spec", "replicas"));
        Assert.True(replicas >= 2);
        var budget = Repo.K8s("PodDisruptionBudget", "diffusion-control");
        Assert.Equal("policy/v1", Y.Str(budget, "apiVersion"));
        Assert.InRange(Int(Y.Str(budget, "spec", "minAvailable")), 1, replicas - 1);
        Assert.Equal("0", Y.Str(Control, "spec", "strategy", "rollingUpdate", "maxUnavailable"));
        Assert.Contains("control.yaml", Repo.Read("deploy/k8s/kustomization.yaml"), StringComparison.Ordinal);
    }

    // ---- compose ----

    [Fact]
    public void Compose_api_serves_the_scaler_on_the_scripts_port()
    {
        var api = Y.Map(Y.Map(Repo.Compose()["services"])["api"]);
        var url = Y.Str(api, "environment", "Diffusion__Scaler__Url")!;
        var containerPort = ArtefactTests.UrlPort(url);
        Assert.Equal(ArtefactTests.ContainerPorts(Api)["scaler"], containerPort);
        Assert.Contains($"127.0.0.1:{Repo.ScriptPorts()["API_SCALER_PORT"]}:{containerPort}", Y.List(api["ports"]).Select(p => p.ToString()));
        Assert.Contains("--Diffusion:Scaler:Url=http://localhost:$API_SCALER_PORT", Repo.Read("deploy/local/run-cluster.sh"), StringComparison.Ordinal);
    }

    // ---- helpers ----

    /// <summary>The Diffusion__Scaling__* values of a Deployment, by option name.</summary>
    private static Dictionary<string, string> ScalingSettings(Dictionary<object, object> deployment) =>
        ArtefactTests.Env(deployment)
            .Where(e => e.Key.StartsWith(ScalingPrefix, StringComparison.Ordinal))
            .ToDictionary(e => e.Key[ScalingPrefix.Length..], e => e.Value!);

    private static Dictionary<string, string?> Volumes(Dictionary<object, object> deployment) =>
        Y.Maps(Y.Get(deployment, "spec", "template", "spec", "volumes"))
            .ToDictionary(v => Y.Str(v, "name")!, v => Y.Str(v, "persistentVolumeClaim", "claimName"));

    private static int Int(string? value) => int.Parse(value!, CultureInfo.InvariantCulture);
}
