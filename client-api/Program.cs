using OrleansDiffusion.Api.Automatic1111;
using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Live;
using OrleansDiffusion.Api.Models;
using OrleansDiffusion.Api.OpenAI;
using OrleansDiffusion.Api.RunPod;
using OrleansDiffusion.Api.Scaling;
using OrleansDiffusion.Api.Security;

var builder = WebApplication.CreateBuilder(args);
builder.AddDiffusionApi();
builder.AddKedaScaler();
builder.AddRunPodApi();

var app = builder.Build();
app.UseDiffusionApi();
app.UseSecurityHeaders();
app.UseDefaultFiles();
app.UseStaticFiles();
app.MapGenerationApi();
app.MapModelApi();
app.MapOpenAIImageApi();
app.MapAutomatic1111Api();
app.MapRunPodApi();
app.MapGenerationHub();
app.Run();

/// <summary>The entry point; public so that tests can host the API with WebApplicationFactory.</summary>
public partial class Program;
