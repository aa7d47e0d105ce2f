namespace OrleansDiffusion.Api.Hosting;

public sealed partial class AnonymousAccessGuard
{
    [LoggerMessage(Level = LogLevel.Critical, Message = "No API key is configured (Diffusion:Api:Keys) but the API listens on {Addresses}. Anonymous access is only allowed on loopback: stopping. Configure keys, or listen on localhost only")]
    private partial void LogRefusingAnonymousAccess(string addresses);
}
