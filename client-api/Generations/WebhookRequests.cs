using Microsoft.Extensions.Options;
using OrleansDiffusion.Api.Hosting;
using OrleansDiffusion.Api.Security;
using OrleansDiffusion.Contracts;
using OrleansDiffusion.Grains.Webhooks;

namespace OrleansDiffusion.Api.Generations;

/// <summary>
/// Reads a submission's <c>webhook</c> and <c>webhook_events</c> into a subscription, before anything is submitted: the
/// target's form and, after resolving it, its addresses (<see cref="WebhookTargets"/>), the event names, and the
/// signing secret of the caller's key. A key without a secret cannot ask for webhooks (400): deliveries are always
/// signed, with a secret the operator gave that key.
/// </summary>
public sealed class WebhookRequests(IOptions<WebhookOptions> webhooks, IOptions<ApiOptions> api)
{
    /// <summary>How long resolving the target's host may take at submission.</summary>
    private static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The subscription (null when the request asks for no webhook), or the field errors.</summary>
    public async Task<(WebhookSubscription? Subscription, Dictionary<string, string[]> Errors)> ReadAsync(
        CreateGenerationRequest request, string apiKey, string baseUrl, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (request.Webhook is null)
        {
            if (request.WebhookEvents is not null)
            {
                errors["webhook_events"] = ["webhook_events needs a webhook."];
            }

            return (null, errors);
        }

        var events = EventsOf(request.WebhookEvents, out var eventError);
        if (eventError is not null)
        {
            errors["webhook_events"] = [eventError];
        }

        var secret = SecretOf(apiKey);
        if (secret is null)
        {
            errors["webhook"] = ["This API key has no webhook signing secret; the operator sets one (Diffusion:Api:Keys:N:WebhookSecret) to allow webhooks."];
            return (null, errors);
        }

        var options = webhooks.Value;
        var problem = WebhookTargets.CheckForm(request.Webhook, options);
        if (problem is null)
        {
            using var resolving = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            resolving.CancelAfter(ResolveTimeout);
            try
            {
                problem = await WebhookTargets.CheckAddressAsync(request.Webhook, options, resolving.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                problem = "its host did not resolve in time";
            }
        }

        if (problem is not null)
        {
            errors["webhook"] = [$"The webhook {problem}."];
        }

        return errors.Count > 0 ? (null, errors) : (new WebhookSubscription { Target = request.Webhook, Events = events, Secret = secret, BaseUrl = baseUrl }, errors);
    }

    /// <summary>The events named (the outcomes when none are), or an error naming the unknown one.</summary>
    private static WebhookEvents EventsOf(string[]? names, out string? error)
    {
        error = null;
        if (names is null)
        {
            return WebhookEvents.Terminal;
        }

        var events = WebhookEvents.None;
        foreach (var name in names)
        {
            if (name is not ("queued" or "started" or "progress" or "completed" or "failed" or "cancelled"))
            {
                error = $"Unknown webhook event '{name}'; the events are queued, started, progress, completed, failed and cancelled.";
                return WebhookEvents.None;
            }

            events |= Enum.Parse<WebhookEvents>(name, ignoreCase: true);
        }

        if (events == WebhookEvents.None)
        {
            error = "webhook_events names no event; leave it out for the outcomes (completed, failed, cancelled).";
        }

        return events;
    }

    /// <summary>The signing secret of the key (the anonymous user's when no key is configured), or null.</summary>
    private string? SecretOf(string apiKey) =>
        api.Value.Keys.Count == 0 && apiKey == ApiKeyAuthenticationHandler.Anonymous
            ? webhooks.Value.AnonymousSecret
            : api.Value.Keys.FirstOrDefault(k => k.Name == apiKey)?.WebhookSecret;
}
