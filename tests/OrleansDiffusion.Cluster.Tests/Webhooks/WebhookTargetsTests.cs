using System.Net;
using OrleansDiffusion.Grains.Webhooks;

namespace OrleansDiffusion.Cluster.Tests.Webhooks;

/// <summary>Which addresses and URLs a webhook may call.</summary>
public sealed class WebhookTargetsTests
{
    [Theory]
    [InlineData("93.184.215.14", true)]
    [InlineData("8.8.8.8", true)]
    [InlineData("2606:4700::1111", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("127.255.0.9", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("10.0.0.1", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("192.168.0.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("255.255.255.255", false)]
    [InlineData("::1", false)]
    [InlineData("::", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("::ffff:93.184.215.14", true)]
    [InlineData("::127.0.0.1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd00::1", false)]
    [InlineData("ff02::1", false)]
    public void Only_public_addresses_are_public(string address, bool expected) =>
        Assert.Equal(expected, WebhookTargets.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("https://example.com/hook", false, true)]
    [InlineData("http://example.com/hook", false, false)]
    [InlineData("http://example.com/hook", true, true)]
    [InlineData("ftp://example.com/hook", true, false)]
    [InlineData("https://user:secret@example.com/hook", false, false)]
    [InlineData("https://example.com/hook#part", false, false)]
    [InlineData("/relative", false, false)]
    public void Only_absolute_https_urls_without_credentials_are_targets(string url, bool allowHttp, bool accepted) =>
        Assert.Equal(accepted, WebhookTargets.CheckForm(url, new WebhookOptions { AllowHttp = allowHttp }) is null);
}
