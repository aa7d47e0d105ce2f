using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using OrleansDiffusion.Cluster.Tests.Azurite;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Models;

namespace OrleansDiffusion.Cluster.Tests.Silo;

/// <summary>The silo host as it runs: zero-config (localhost clustering, memory state, local images, demo model).</summary>
public sealed class SiloHostTests(AzuriteFixture azurite) : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "od-silo-" + Guid.NewGuid().ToString("N")[..10]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private WebApplicationFactory<Program> Silo(params (string Key, string Value)[] settings)
    {
        var siloPort = FreePort();
        var gatewayPort = FreePort();
        return new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Diffusion:Cluster:SiloPort", siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            web.UseSetting("Diffusion:Cluster:PrimarySiloPort", siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            web.UseSetting("Diffusion:Cluster:GatewayPort", gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            web.UseSetting("Diffusion:DemoModelDirectory", Path.Combine(_root, "demo-model"));
            web.UseSetting("Diffusion:ImageStore:LocalRoot", Path.Combine(_root, "images"));
            foreach (var (key, value) in settings)
            {
                web.UseSetting(key, value);
            }
        });
    }

    /// <summary>Submits a small job straight to the silo's grains and waits (up to a minute) until it ends.</summary>
    private static async Task<JobSnapshot> RunJobAsync(WebApplicationFactory<Program> factory, string prompt)
    {
        var job = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IGenerationJobGrain>(Guid.NewGuid());
        await job.Submit(new GenerationSpec { Prompt = prompt, Steps = 3, Width = 64, Height = 64, Seed = 1 }, "k", IKeyQuotaGrain.Unlimited);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JobSnapshot snapshot;
        while (!(snapshot = await job.GetSnapshot()).IsTerminal && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        return snapshot;
    }

    [Fact]
    public async Task Zero_config_silo_serves_the_demo_model_with_health_and_metrics()
    {
        await using var factory = Silo();
        using var http = factory.CreateClient();

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live", TestContext.Current.CancellationToken)).StatusCode);
        var ready = await http.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);

        var catalog = factory.Services.GetRequiredService<ModelCatalog>();
        Assert.Equal(ModelCatalog.DemoModelId, catalog.DefaultModelId);
        Assert.True(File.Exists(Path.Combine(_root, "demo-model", "model_index.json")));

        var snapshot = await RunJobAsync(factory, "metrics");

        Assert.Equal(JobStatus.Succeeded, snapshot.Status);
        Assert.True(File.Exists(Path.Combine(_root, "images", snapshot.Images[0].Key)));

        var metrics = await http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        foreach (var name in new[]
        {
            "diffusion_inference_runs_total", "diffusion_model_loads_total", "diffusion_model_load_duration_seconds",
            "diffusion_step_latency_seconds", "diffusion_compute_seconds_per_image", "diffusion_jobs_running", "diffusion_queue_depth",
            // .NET's own: what the api benchmark and an operator watch for flat memory.
            "dotnet_gc_last_collection_heap_size_bytes", "dotnet_process_memory_working_set_bytes",
        })
        {
            Assert.Contains(name, metrics, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_model_that_cannot_load_fails_its_jobs_and_counts_as_a_model_load_failure()
    {
        // A model folder that passes the start-up check (which reads the UNet's declared inputs), with a UNet that ONNX
        // Runtime cannot load: one of its nodes is an operator that does not exist.
        var folder = Path.Combine(_root, "corrupt");
        OrleansDiffusion.DemoModel.DemoModelWriter.Write(folder, new OrleansDiffusion.DemoModel.DemoModelOptions());
        var unet = Path.Combine(folder, "unet", "model.onnx");
        var graph = Onnx.ModelProto.Parser.ParseFrom(await File.ReadAllBytesAsync(unet, TestContext.Current.CancellationToken));
        graph.Graph.Node[0].OpType = "NoSuchOperator";
        await File.WriteAllBytesAsync(unet, Google.Protobuf.MessageExtensions.ToByteArray(graph), TestContext.Current.CancellationToken);
        await using var factory = Silo(("Diffusion:Models:0:Id", "corrupt"), ("Diffusion:Models:0:Path", folder));
        using var http = factory.CreateClient();

        var snapshot = await RunJobAsync(factory, "never drawn");

        Assert.Equal(JobStatus.Failed, snapshot.Status);
        Assert.Contains("unet", snapshot.Error, StringComparison.OrdinalIgnoreCase);
        var metrics = await http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        // name{labels} value [timestamp]
        var sample = System.Text.RegularExpressions.Regex.Match(metrics, @"^diffusion_model_load_failures_total(\{[^}]*\})? (\S+)", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(sample.Success, "diffusion_model_load_failures_total is exported");
        Assert.Equal(1, double.Parse(sample.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void A_bad_configuration_stops_the_silo_with_a_message_naming_the_key()
    {
        using var factory = Silo(("Diffusion:Capacity", "-3"));

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("Capacity", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Diffusion:Retention:Jobs", "40.00:00:00", "must not outlive its images")]
    [InlineData("Diffusion:Retention:Jobs", "0", "must not outlive its images")]
    [InlineData("Diffusion:Retention:Inputs", "-01:00:00", "must not be negative")]
    [InlineData("Diffusion:Retention:SweepInterval", "00:00:00", "SweepInterval must be positive")]
    public void Retention_periods_that_would_show_deleted_images_stop_the_silo_naming_the_key(string key, string value, string message)
    {
        using var factory = Silo((key, value));

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains(key, error.ToString(), StringComparison.Ordinal);
        Assert.Contains(message, error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Diffusion:Cuda:ConvAlgoSearch", "Fastest", "must be one of Exhaustive, Heuristic, Default")]
    [InlineData("Diffusion:Cuda:ArenaExtendStrategy", "kDouble", "must be one of NextPowerOfTwo, SameAsRequested")]
    [InlineData("Diffusion:Cuda:MemoryLimitBytes", "1000", "must be at least 268435456")]
    [InlineData("Diffusion:Cuda:DeviceId", "-1", "must be a GPU ordinal")]
    [InlineData("Diffusion:Cuda:CopyInDefaultStream", "maybe", "maybe")]
    public void Bad_CUDA_provider_options_stop_the_silo_naming_the_key(string key, string value, string message)
    {
        using var factory = Silo((key, value));

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains(key, error.ToString(), StringComparison.Ordinal);
        Assert.Contains(message, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CUDA_provider_options_from_configuration_reach_the_models_execution_options()
    {
        await using var factory = Silo(
            ("Diffusion:Cuda:DeviceId", "2"),
            ("Diffusion:Cuda:ConvAlgoSearch", "heuristic"),
            ("Diffusion:Cuda:MemoryLimitBytes", "8589934592"),
            ("Diffusion:Cuda:ArenaExtendStrategy", "SameAsRequested"),
            ("Diffusion:Cuda:CopyInDefaultStream", "false"));
        using var http = factory.CreateClient();

        var execution = factory.Services.GetRequiredService<ModelHost>().ExecutionOptions();

        Assert.Equal(
            new Dictionary<string, string>
            {
                ["device_id"] = "2",
                ["cudnn_conv_algo_search"] = "HEURISTIC",
                ["gpu_mem_limit"] = "8589934592",
                ["arena_extend_strategy"] = "kSameAsRequested",
                ["do_copy_in_default_stream"] = "0",
            },
            execution.Cuda.ToProviderOptions());
        Assert.Equal(OrleansDiffusion.Engine.Models.CudaOptions.Default, new OrleansDiffusion.Grains.Hosting.CudaProviderOptions().ToEngineOptions());
    }

    [Fact]
    public async Task Thread_spinning_is_off_by_default_and_configuration_turns_it_on()
    {
        await using (var defaults = Silo())
        {
            using var http = defaults.CreateClient();
            Assert.False(defaults.Services.GetRequiredService<ModelHost>().ExecutionOptions().AllowSpinning);
        }

        await using var factory = Silo(("Diffusion:AllowSpinning", "true"), ("Diffusion:IntraOpThreads", "2"));
        using var client = factory.CreateClient();

        var execution = factory.Services.GetRequiredService<ModelHost>().ExecutionOptions();

        Assert.True(execution.AllowSpinning);
        Assert.Equal(2, execution.IntraOpThreads);
    }

    [Fact]
    public async Task With_Azure_storage_a_cleared_job_or_cache_record_is_deleted_rather_than_emptied()
    {
        // The retention sweep clears records: with the Azure providers' default a table row would stay behind, empty.
        await using var factory = Silo(
            ("Diffusion:Cluster:Storage", "AzureStorage"),
            ("Diffusion:Cluster:ConnectionString", azurite.ConnectionString),
            ("Diffusion:Cluster:ServiceId", "host-" + Guid.NewGuid().ToString("N")[..8]));

        Assert.True(factory.Services.GetRequiredService<IOptionsMonitor<AzureTableStorageOptions>>().Get(StorageNames.Jobs).DeleteStateOnClear);
        Assert.True(factory.Services.GetRequiredService<IOptionsMonitor<AzureBlobStorageOptions>>().Get(StorageNames.Cache).DeleteStateOnClear);
    }

    [Fact]
    public void A_missing_model_folder_stops_the_silo_naming_it()
    {
        using var factory = Silo(("Diffusion:Models:0:Id", "sd15"), ("Diffusion:Models:0:Path", "/nonexistent/sd15"));

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains("/nonexistent/sd15", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_silo_host_answers_its_dashboard_on_loopback_connections_only()
    {
        // The silo host has no authentication: a port-forward or a tunnel (a loopback connection) reaches the dashboard,
        // the network does not. This machine's own non-loopback address stands in for the network.
        var external = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        Assert.True(external is not null, "this test needs a network interface with an IPv4 address besides loopback");
        var port = FreePort();
        await using var factory = Silo();
        factory.UseKestrel(kestrel => kestrel.ListenAnyIP(port));
        factory.StartServer();
        using var http = new HttpClient();
        var cancel = TestContext.Current.CancellationToken;

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/dashboard/", cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/dashboard/DashboardCounters", cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://{external}:{port}/dashboard/", cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://{external}:{port}/dashboard/DashboardCounters", cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://{external}:{port}/health/live", cancel)).StatusCode);
    }

    [Fact]
    public async Task Dashboard_false_serves_no_dashboard()
    {
        await using var factory = Silo(("Diffusion:Cluster:Dashboard", "false"));
        using var http = factory.CreateClient();

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/dashboard/", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live", TestContext.Current.CancellationToken)).StatusCode);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
