using System.Diagnostics;
using System.Text.RegularExpressions;
using OrleansDiffusion.Grains.Hosting;
using OrleansDiffusion.Grains.Storage;
using OrleansDiffusion.Hosting;

namespace OrleansDiffusion.Deploy.Tests;

public sealed class ArtefactTests
{
    private static readonly ClusterHostingOptions ClusterDefaults = new();
    private static readonly DiffusionOptions DiffusionDefaults = new();

    public static TheoryData<string> YamlFiles() => new(Repo.DeployFiles(".yaml", ".yml").Select(f => Path.GetRelativePath(Repo.Root, f)));

    [Theory]
    [MemberData(nameof(YamlFiles))]
    public void Every_yaml_file_parses(string file)
    {
        var documents = Repo.LoadYaml(Repo.PathOf(file));
        Assert.NotEmpty(documents);
        Assert.All(documents, d => Assert.IsType<Dictionary<object, object>>(d));
    }

    [Fact]
    public void Deploy_holds_the_expected_artefacts()
    {
        string[] expected =
        [
            "deploy/README.md", "deploy/local/run-cluster.sh", "deploy/docker/silo.Dockerfile", "deploy/docker/api.Dockerfile",
            "deploy/docker/compose.yaml", "deploy/k8s/kustomization.yaml", "deploy/k8s/README.md", "deploy/monitoring/alerts.yaml",
            "deploy/terraform/azure/main.tf", "deploy/terraform/azure/variables.tf", "deploy/terraform/azure/outputs.tf", "deploy/terraform/azure/versions.tf",
        ];
        Assert.All(expected, f => Assert.True(File.Exists(Repo.PathOf(f)), f));
    }

    // ---- Kubernetes ----

    [Fact]
    public void Silo_container_ports_are_the_hosting_defaults()
    {
        var ports = ContainerPorts(Repo.K8s("Deployment", "diffusion-silo"));
        Assert.Equal(ClusterDefaults.SiloPort, ports["silo"]);
        Assert.Equal(ClusterDefaults.GatewayPort, ports["gateway"]);
        Assert.Equal(UrlPort(Repo.Read("silo/appsettings.json")), ports["http"]);
        var env = Env(Repo.K8s("Deployment", "diffusion-silo"));
        Assert.Equal(ClusterDefaults.SiloPort.ToString(System.Globalization.CultureInfo.InvariantCulture), env["Diffusion__Cluster__SiloPort"]);
        Assert.Equal(ClusterDefaults.GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture), env["Diffusion__Cluster__GatewayPort"]);
        Assert.Equal(ports["http"], UrlPort(env["Urls"]!));
    }

    [Fact]
    public void Api_container_port_is_the_api_default()
    {
        var api = Repo.K8s("Deployment", "diffusion-api");
        var ports = ContainerPorts(api);
        Assert.Equal(UrlPort(Repo.Read("client-api/appsettings.json")), ports["http"]);
        Assert.Equal(ports["http"], UrlPort(Env(api)["Urls"]!));
        Assert.Equal("Client", Env(api)["Diffusion__Api__Mode"]);
    }

    [Fact]
    public void Probes_use_paths_the_code_maps_and_ports_the_container_names()
    {
        var mapped = MappedPaths();
        Assert.Contains("/health/live", mapped);
        Assert.Contains("/health/ready", mapped);
        foreach (var deployment in Repo.K8sObjects().Where(o => Y.Str(o, "kind") == "Deployment"))
        {
            foreach (var container in Y.Containers(deployment))
            {
                var portNames = Y.Maps(container["ports"]).Select(p => Y.Str(p, "name")).ToHashSet();
                Assert.Equal("/health/ready", Y.Str(container, "readinessProbe", "httpGet", "path"));
                Assert.Equal("/health/live", Y.Str(container, "livenessProbe", "httpGet", "path"));
                foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" }.Select(p => Y.Get(container, p)).Where(p => p is not null))
                {
                    Assert.Contains(Y.Str(probe, "httpGet", "path")!, mapped);
                    Assert.Contains(Y.Str(probe, "httpGet", "port"), portNames);
                }
            }
        }

        var silo = Y.Containers(Repo.K8s("Deployment", "diffusion-silo")).Single();
        Assert.Equal("/health/ready", Y.Str(silo, "startupProbe", "httpGet", "path"));
    }

    [Fact]
    public void Silo_pods_carry_what_orleans_kubernetes_hosting_reads()
    {
        foreach (var name in new[] { "diffusion-silo", "diffusion-control" })
        {
            SiloPodsCarryWhatKubernetesHostingReads(Repo.K8s("Deployment", name));
        }
    }

    private static void SiloPodsCarryWhatKubernetesHostingReads(Dictionary<object, object> silo)
    {
        var labels = Y.Map(Y.Get(silo, "spec", "template", "metadata", "labels"));
        var container = Y.Containers(silo).Single();
        var fieldRefs = Y.Maps(container["env"])
            .Where(e => Y.Get(e, "valueFrom", "fieldRef") is not null)
            .ToDictionary(e => Y.Str(e, "name")!, e => Y.Str(e, "valueFrom", "fieldRef", "fieldPath"));
        Assert.Equal("metadata.labels['orleans/serviceId']", fieldRefs["ORLEANS_SERVICE_ID"]);
        Assert.Equal("metadata.labels['orleans/clusterId']", fieldRefs["ORLEANS_CLUSTER_ID"]);
        Assert.Equal("metadata.name", fieldRefs["POD_NAME"]);
        Assert.Equal("metadata.namespace", fieldRefs["POD_NAMESPACE"]);
        Assert.Equal("status.podIP", fieldRefs["POD_IP"]);

        // Kubernetes hosting overrides ServiceId/ClusterId from the labels; the API finds the cluster by Diffusion:Cluster.
        var env = Env(silo);
        Assert.Equal(nameof(ClusteringKind.Kubernetes), env["Diffusion__Cluster__Clustering"]);
        Assert.Equal(labels["orleans/serviceId"], env["Diffusion__Cluster__ServiceId"]);
        Assert.Equal(labels["orleans/clusterId"], env["Diffusion__Cluster__ClusterId"]);
        var api = Env(Repo.K8s("Deployment", "diffusion-api"));
        Assert.Equal(labels["orleans/serviceId"], api["Diffusion__Cluster__ServiceId"]);
        Assert.Equal(labels["orleans/clusterId"], api["Diffusion__Cluster__ClusterId"]);
        Assert.Contains(api["Diffusion__Cluster__Clustering"], new[] { nameof(ClusteringKind.AzureTable), nameof(ClusteringKind.Kubernetes) });

        // The code's Kubernetes mode needs the connection string (Azure Table membership).
        Assert.Contains(Y.Maps(container["env"]), e => Y.Str(e, "name") == "Diffusion__Cluster__ConnectionString" && Y.Get(e, "valueFrom", "secretKeyRef") is not null);
    }

    [Fact]
    public void Silo_service_account_may_manage_pods()
    {
        var silo = Repo.K8s("Deployment", "diffusion-silo");
        var account = Y.Str(silo, "spec", "template", "spec", "serviceAccountName");
        Assert.NotNull(Repo.K8s("ServiceAccount", account!));
        var binding = Repo.K8sObjects().Single(o => Y.Str(o, "kind") == "RoleBinding" && Y.Maps(o["subjects"]).Any(s => Y.Str(s, "name") == account));
        var role = Repo.K8s("Role", Y.Str(binding, "roleRef", "name")!);
        var rule = Y.Maps(role["rules"]).Single(r => Y.List(r["resources"]).Contains("pods"));
        Assert.Equal(["delete", "get", "list", "patch", "watch"], Y.List(rule["verbs"]).Select(v => v.ToString()!).Order().ToArray());
    }

    [Fact]
    public void Silos_get_longer_to_stop_than_they_drain()
    {
        foreach (var silo in new[] { "diffusion-silo", "diffusion-control" }.Select(n => Repo.K8s("Deployment", n)))
        {
            var grace = int.Parse(Y.Str(silo, "spec", "template", "spec", "terminationGracePeriodSeconds")!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(grace > DiffusionDefaults.DrainTimeout.TotalSeconds, $"{grace} s <= DrainTimeout {DiffusionDefaults.DrainTimeout}");
            if (Env(silo).TryGetValue("Diffusion__DrainTimeout", out var drain))
            {
                Assert.True(grace > TimeSpan.Parse(drain!, System.Globalization.CultureInfo.InvariantCulture).TotalSeconds + 15, Y.Str(silo, "metadata", "name"));
            }
        }

        var compose = Y.Map(Repo.Compose()["services"]);
        foreach (var name in new[] { "silo-1", "silo-2" })
        {
            var stop = Y.Str(compose[name], "stop_grace_period")!;
            Assert.True(int.Parse(stop.TrimEnd('s'), System.Globalization.CultureInfo.InvariantCulture) > DiffusionDefaults.DrainTimeout.TotalSeconds, name);
        }
    }

    [Fact]
    public void Silos_request_a_gpu_and_mount_the_models_read_only()
    {
        var silo = Repo.K8s("Deployment", "diffusion-silo");
        var container = Y.Containers(silo).Single();
        Assert.Equal("1", Y.Str(container, "resources", "limits", "nvidia.com/gpu"));
        var env = Env(silo);
        Assert.Equal("cuda", env["Diffusion__Provider"]);
        var mount = Y.Maps(container["volumeMounts"]).Single(m => Y.Str(m, "name") == "models");
        Assert.Equal("true", Y.Str(mount, "readOnly"), ignoreCase: true);
        Assert.StartsWith(Y.Str(mount, "mountPath")! + "/", env["Diffusion__Models__0__Path"], StringComparison.Ordinal);
        var volume = Y.Maps(Y.Get(silo, "spec", "template", "spec", "volumes")).Single(v => Y.Str(v, "name") == "models");
        var claim = Y.Str(volume, "persistentVolumeClaim", "claimName")!;
        Assert.NotNull(Repo.K8s("PersistentVolumeClaim", claim));
        Assert.Equal("sd15", env["Diffusion__Models__0__Id"]);
    }

    [Fact]
    public void Secret_refs_name_keys_of_the_secret_template()
    {
        var template = Y.Map(Repo.LoadYaml(Repo.PathOf("deploy/k8s/secret.template.yaml")).Single());
        Assert.Equal("Secret", Y.Str(template, "kind"));
        var name = Y.Str(template, "metadata", "name");
        var keys = Y.Map(template["stringData"]).Keys.Select(k => k.ToString()).ToHashSet();
        var refs = Repo.K8sObjects().SelectMany(Y.AllMaps).Select(m => Y.Get(m, "secretKeyRef")).Where(r => r is not null).ToList();
        Assert.NotEmpty(refs);
        Assert.All(refs, r =>
        {
            Assert.Equal(name, Y.Str(r, "name"));
            Assert.Contains(Y.Str(r, "key"), keys);
        });
        var apiKeys = Env(Repo.K8s("Deployment", "diffusion-api"), withRefs: true);
        Assert.Contains("Diffusion__Api__Keys__0__Sha256", apiKeys.Keys);
        Assert.Matches("^[0-9a-f]{64}$", Y.Str(template, "stringData", "api-key-0-sha256"));
    }

    [Fact]
    public void Kustomization_lists_every_manifest_but_the_secret_template()
    {
        var kustomization = Y.Map(Repo.LoadYaml(Repo.PathOf("deploy/k8s/kustomization.yaml")).Single());
        var listed = Y.List(kustomization["resources"]).Select(r => r.ToString()!).ToHashSet();
        var files = Directory.GetFiles(Repo.PathOf("deploy/k8s"), "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").ToHashSet();
        Assert.DoesNotContain("secret.template.yaml", listed);
        files.Remove("secret.template.yaml");
        Assert.Equal(files.Order(), listed.Order());
    }

    [Fact]
    public void Selectors_match_their_targets()
    {
        var deployments = Repo.K8sObjects().Where(o => Y.Str(o, "kind") == "Deployment").ToList();
        string[] Selected(Dictionary<object, object> selector) =>
            deployments.Where(d => Matches(selector, PodLabels(d))).Select(d => Y.Str(d, "metadata", "name")!).ToArray();

        // Each Deployment owns its pods alone: a selector that matched another Deployment's pods would fight over them.
        foreach (var deployment in deployments)
        {
            Assert.Equal([Y.Str(deployment, "metadata", "name")!], Selected(Y.Map(Y.Get(deployment, "spec", "selector", "matchLabels"))));
        }

        Assert.Equal(["diffusion-silo"], Selected(Y.Map(Y.Get(Repo.K8s("PodDisruptionBudget", "diffusion-silo"), "spec", "selector", "matchLabels"))));
        Assert.Equal(["diffusion-control"], Selected(Y.Map(Y.Get(Repo.K8s("PodDisruptionBudget", "diffusion-control"), "spec", "selector", "matchLabels"))));
        Assert.Equal(["diffusion-silo"], Selected(Y.Map(Y.Get(Repo.K8s("Service", "diffusion-silo"), "spec", "selector"))));
        Assert.Equal(["diffusion-api"], Selected(Y.Map(Y.Get(Repo.K8s("Service", "diffusion-api"), "spec", "selector"))));
        Assert.Equal(["diffusion-api"], Selected(Y.Map(Y.Get(Repo.K8s("Service", "diffusion-scaler"), "spec", "selector"))));
        var hpa = Repo.K8s("HorizontalPodAutoscaler", "diffusion-api");
        Assert.Equal("autoscaling/v2", Y.Str(hpa, "apiVersion"));
        Assert.Equal("diffusion-api", Y.Str(hpa, "spec", "scaleTargetRef", "name"));
        Assert.Equal("cpu", Y.Str(Y.Maps(Y.Get(hpa, "spec", "metrics")).Single(), "resource", "name"));
    }

    // ---- configuration keys, everywhere ----

    [Fact]
    public void Every_diffusion_setting_binds_an_options_property()
    {
        var settings = Settings.All().Where(s => s.Name.StartsWith("Diffusion__", StringComparison.Ordinal)).ToList();
        Assert.True(settings.Count > 40, $"only {settings.Count} settings found");
        var errors = new List<string>();
        foreach (var setting in settings)
        {
            var (type, error) = ConfigurationKeys.Resolve(ConfigurationKeys.FromEnvironment(setting.Name));
            if (error is not null)
            {
                errors.Add($"{setting.Source}: {error}");
            }
            else if (setting.Value is not null && !ConfigurationKeys.Converts(type!, setting.Value))
            {
                errors.Add($"{setting}: does not convert to {type!.Name}");
            }
        }

        Assert.Empty(errors);
    }

    [Fact]
    public void Key_resolution_rejects_what_the_binder_would_ignore()
    {
        Assert.Null(ConfigurationKeys.Resolve("Diffusion:Cluster:SiloPortt").Type);
        Assert.Null(ConfigurationKeys.Resolve("Diffusion:Models:x:Id").Type);
        Assert.Null(ConfigurationKeys.Resolve("Diffusion:Cluster").Type);
        Assert.Equal(typeof(int), ConfigurationKeys.Resolve("Diffusion:Cluster:SiloPort").Type);
        Assert.Equal(typeof(string), ConfigurationKeys.Resolve("Diffusion:Api:Keys:0:Sha256").Type);
        Assert.Equal(typeof(TimeSpan), ConfigurationKeys.Resolve("Diffusion:DrainTimeout").Type);
        Assert.Equal(typeof(string), ConfigurationKeys.Resolve("Diffusion:WarmModels:0").Type);
        Assert.Equal(typeof(int), ConfigurationKeys.Resolve("Diffusion:Scaling:MaxSilos").Type);
        Assert.Equal(typeof(TimeSpan), ConfigurationKeys.Resolve("Diffusion:Scaling:ScaleToZeroAfter").Type);
        Assert.Null(ConfigurationKeys.Resolve("Diffusion:Scaling").Type);
        Assert.Equal(typeof(string), ConfigurationKeys.Resolve("Diffusion:Scaler:Url").Type);
        Assert.Equal(typeof(TimeSpan), ConfigurationKeys.Resolve("Diffusion:Scaler:StreamInterval").Type);
        Assert.Null(ConfigurationKeys.Resolve("Diffusion:Scaler:Uri").Type);
        Assert.False(ConfigurationKeys.Converts(typeof(ClusteringKind), "Kubernets"));
        Assert.False(ConfigurationKeys.Converts(typeof(int), "eleven"));
    }

    [Fact]
    public void Other_environment_variables_are_known_ones()
    {
        string[] known = ["Urls", "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID", "POD_NAME", "POD_NAMESPACE", "POD_IP", "DOTNET_RUNNING_IN_CONTAINER", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES"];
        Assert.All(Settings.All().Where(s => !s.Name.StartsWith("Diffusion__", StringComparison.Ordinal)), s => Assert.Contains(s.Name, known));
    }

    // ---- compose and the local script ----

    [Fact]
    public void Compose_publishes_the_ports_of_the_local_script()
    {
        var ports = Repo.ScriptPorts();
        var services = Y.Map(Repo.Compose()["services"]);
        int HostPort(string service, int containerPort) => Y.List(Y.Get(services[service], "ports"))
            .Select(p => p.ToString()!.Split(':'))
            .Where(p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture) == containerPort)
            .Select(p => int.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture)).Single();

        Assert.Equal(ports["API_HTTP_PORT"], HostPort("api", 8080));
        Assert.Equal(ports["SILO1_HTTP_PORT"], HostPort("silo-1", 8081));
        Assert.Equal(ports["SILO2_HTTP_PORT"], HostPort("silo-2", 8081));
        Assert.Equal(ports["AZURITE_BLOB_PORT"], HostPort("azurite", 10000));
        Assert.Equal(ports["AZURITE_QUEUE_PORT"], HostPort("azurite", 10001));
        Assert.Equal(ports["AZURITE_TABLE_PORT"], HostPort("azurite", 10002));
        Assert.Equal(UrlPort(Repo.Read("client-api/appsettings.json")), ports["API_HTTP_PORT"]);
        Assert.Equal(UrlPort(Repo.Read("silo/appsettings.json")), ports["SILO1_HTTP_PORT"]);
        Assert.Equal(ClusterDefaults.SiloPort, ports["SILO1_SILO_PORT"]);
        Assert.Equal(ClusterDefaults.GatewayPort, ports["SILO1_GATEWAY_PORT"]);
        Assert.Equal(ports.Count, ports.Values.Distinct().Count());
    }

    [Fact]
    public void Compose_silos_reserve_a_gpu_and_check_health_on_real_paths()
    {
        var services = Y.Map(Repo.Compose()["services"]);
        var mapped = MappedPaths();
        foreach (var name in new[] { "silo-1", "silo-2" })
        {
            var device = Y.Maps(Y.Get(services[name], "deploy", "resources", "reservations", "devices")).Single();
            Assert.Equal("nvidia", Y.Str(device, "driver"));
            Assert.Contains("gpu", Y.List(device["capabilities"]));
            Assert.Equal("cuda", Y.Str(services[name], "environment", "Diffusion__Provider"));
            Assert.Equal("AzureTable", Y.Str(services[name], "environment", "Diffusion__Cluster__Clustering"));
        }

        foreach (var name in new[] { "silo-1", "silo-2", "api" })
        {
            var test = string.Join(' ', Y.List(Y.Get(services[name], "healthcheck", "test")));
            var path = new Uri(Regex.Match(test, @"http://\S+").Value).AbsolutePath;
            Assert.Contains(path, mapped);
        }

        Assert.Equal("Client", Y.Str(services["api"], "environment", "Diffusion__Api__Mode"));
    }

    [Fact]
    public void Local_script_is_valid_bash_and_stops_only_what_it_started()
    {
        var script = Repo.PathOf("deploy/local/run-cluster.sh");
        using var bash = Process.Start(new ProcessStartInfo("bash", ["-n", script]) { RedirectStandardError = true })!;
        var error = bash.StandardError.ReadToEnd();
        bash.WaitForExit();
        Assert.True(bash.ExitCode == 0, error);

        // How it stops (LocalClusterScriptTests runs it): a trap on exit, the recorded PID of each program itself.
        var text = File.ReadAllText(script);
        Assert.Contains("trap stop_all EXIT", text, StringComparison.Ordinal);
        Assert.Contains("( eval \"exec ", text, StringComparison.Ordinal);
        Assert.Contains("PID_OF[$name]=$!", text, StringComparison.Ordinal);
        Assert.DoesNotContain("pkill", text, StringComparison.Ordinal);
        Assert.DoesNotContain("killall", text, StringComparison.Ordinal);
        Assert.Contains("--skipApiVersionCheck", text, StringComparison.Ordinal);
        Assert.Contains("--Diffusion:Api:Mode=Client", text, StringComparison.Ordinal);
        Assert.Contains("dotnet build", text, StringComparison.Ordinal);
        Assert.DoesNotContain("dotnet run --project", text, StringComparison.Ordinal);
    }

    // ---- Dockerfiles ----

    [Fact]
    public void Silo_image_is_cuda_13_with_the_gpu_onnx_runtime()
    {
        var text = Settings.JoinContinuations(Repo.Read("deploy/docker/silo.Dockerfile"));
        Assert.Matches(@"nvidia/cuda:13\.[0-9.]+-cudnn-runtime-ubuntu24\.04", text);
        Assert.Contains("-p:OnnxRuntimeGpu=true", text, StringComparison.Ordinal);
        Assert.Contains("Diffusion__Provider=cuda", text, StringComparison.Ordinal);
        Assert.Contains("dotnet publish silo/OrleansDiffusion.Silo.csproj", text, StringComparison.Ordinal);
        Assert.Contains($"EXPOSE {ClusterDefaults.SiloPort} {ClusterDefaults.GatewayPort} {UrlPort(Repo.Read("silo/appsettings.json"))}", text, StringComparison.Ordinal);
        Assert.Contains($"\"{AssemblyName("silo/OrleansDiffusion.Silo.csproj")}.dll\"", text, StringComparison.Ordinal);
        Assert.Contains("OnnxRuntimeGpu", Repo.Read("Directory.Build.props"), StringComparison.Ordinal);
    }

    [Fact]
    public void Api_image_runs_the_api_as_a_client()
    {
        var text = Settings.JoinContinuations(Repo.Read("deploy/docker/api.Dockerfile"));
        Assert.Matches(@"FROM \$\{DOTNET_RUNTIME_IMAGE\}", text);
        Assert.Contains("mcr.microsoft.com/dotnet/aspnet:10.0", text, StringComparison.Ordinal);
        Assert.Contains("dotnet publish client-api/OrleansDiffusion.Api.csproj", text, StringComparison.Ordinal);
        Assert.Contains("Diffusion__Api__Mode=Client", text, StringComparison.Ordinal);
        Assert.Contains($"\"{AssemblyName("client-api/OrleansDiffusion.Api.csproj")}.dll\"", text, StringComparison.Ordinal);
        Assert.Contains($"EXPOSE {UrlPort(Repo.Read("client-api/appsettings.json"))}", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Dockerfiles_are_multi_stage_and_check_health_on_real_paths()
    {
        var mapped = MappedPaths();
        foreach (var file in Repo.DeployFiles(".Dockerfile"))
        {
            var text = Settings.JoinContinuations(File.ReadAllText(file));
            Assert.True(Regex.Matches(text, @"^FROM ", RegexOptions.Multiline).Count >= 2, file);
            Assert.Contains("COPY --from=build", text, StringComparison.Ordinal);
            var health = Regex.Match(text, @"^HEALTHCHECK .*?(http://\S+)", RegexOptions.Multiline);
            Assert.True(health.Success, file);
            Assert.Contains(new Uri(health.Groups[1].Value).AbsolutePath, mapped);
        }
    }

    // ---- Terraform ----

    [Fact]
    public void Terraform_module_is_well_formed_and_matches_the_manifests()
    {
        foreach (var file in Directory.GetFiles(Repo.PathOf("deploy/terraform/azure"), "*.tf"))
        {
            var text = File.ReadAllText(file);
            Assert.Equal(text.Count(c => c == '{'), text.Count(c => c == '}'));
            Assert.Equal(text.Count(c => c == '['), text.Count(c => c == ']'));
        }

        var main = Repo.Read("deploy/terraform/azure/main.tf");
        Assert.Contains("source  = \"hashicorp/azurerm\"", Repo.Read("deploy/terraform/azure/versions.tf"), StringComparison.Ordinal);
        Assert.Contains("resource \"azurerm_storage_account\"", main, StringComparison.Ordinal);
        Assert.Contains("resource \"azurerm_kubernetes_cluster_node_pool\" \"gpu\"", main, StringComparison.Ordinal);
        Assert.Contains($"name                  = \"{new ImageStoreOptions().Container}\"", main, StringComparison.Ordinal);
        Assert.Contains("OrleansSiloInstances", Repo.Read("deploy/terraform/azure/variables.tf"), StringComparison.Ordinal);

        // The node pool's taint and label are what the silo pods tolerate and select.
        var silo = Y.Get(Repo.K8s("Deployment", "diffusion-silo"), "spec", "template", "spec");
        var taint = Regex.Match(main, @"node_taints\s*=\s*\[""([^=""]+)=[^:""]*:(\w+)""\]");
        Assert.True(taint.Success);
        Assert.Contains(Y.Maps(Y.Get(silo, "tolerations")), t => Y.Str(t, "key") == taint.Groups[1].Value && Y.Str(t, "effect") == taint.Groups[2].Value);
        var label = Regex.Match(main, @"node_labels\s*=\s*\{\s*(\w+)\s*=\s*""([^""]+)""");
        Assert.Equal(label.Groups[2].Value, Y.Str(silo, "nodeSelector", label.Groups[1].Value));
    }

    // ---- helpers ----

    internal static Dictionary<object, object> PodLabels(Dictionary<object, object> deployment) =>
        Y.Map(Y.Get(deployment, "spec", "template", "metadata", "labels"));

    /// <summary>Whether a matchLabels-style selector (every pair present) selects pods with these labels.</summary>
    internal static bool Matches(Dictionary<object, object> selector, Dictionary<object, object> labels) =>
        selector.Count > 0 && selector.All(l => labels.TryGetValue(l.Key, out var value) && Equals(value?.ToString(), l.Value?.ToString()));

    internal static HashSet<string> MappedPaths() =>
        Directory.GetFiles(Repo.PathOf("grains/OrleansDiffusion.Hosting"), "*.cs")
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), @"Map(?:HealthChecks|PrometheusScrapingEndpoint)\(""([^""]+)""").Select(m => m.Groups[1].Value))
            .ToHashSet();

    internal static Dictionary<string, int> ContainerPorts(Dictionary<object, object> deployment) =>
        Y.Maps(Y.Containers(deployment).Single()["ports"]).ToDictionary(p => Y.Str(p, "name")!, p => int.Parse(Y.Str(p, "containerPort")!, System.Globalization.CultureInfo.InvariantCulture));

    internal static Dictionary<string, string?> Env(Dictionary<object, object> deployment, bool withRefs = false) =>
        Y.Maps(Y.Containers(deployment).Single()["env"])
            .Where(e => withRefs || Y.Get(e, "value") is not null)
            .ToDictionary(e => Y.Str(e, "name")!, e => Y.Str(e, "value"));

    internal static int UrlPort(string text) => int.Parse(Regex.Match(text, @"http://[^:/""]+:(\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    private static string AssemblyName(string csproj) => Regex.Match(Repo.Read(csproj), "<AssemblyName>([^<]+)</AssemblyName>").Groups[1].Value;
}
