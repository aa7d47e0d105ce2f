using OrleansDiffusion.Api.Generations;
using OrleansDiffusion.Api.Imaging;

namespace OrleansDiffusion.Api.OpenAI;

/// <summary>What the OpenAI image endpoints use, bound as one parameter (<c>[AsParameters]</c>).</summary>
public sealed record OpenAIImageServices(GenerationService Generations, ImageTranscoder Transcoder, IGrainFactory Grains, TimeProvider Time);
