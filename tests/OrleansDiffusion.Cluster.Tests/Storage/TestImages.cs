using System.Security.Cryptography;

namespace OrleansDiffusion.Cluster.Tests.Storage;

/// <summary>Distinct payloads for store tests (the stores hash bytes, they do not decode them) and the keys they should get.</summary>
internal static class TestImages
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>A PNG signature followed by random bytes: unique per call.</summary>
    public static byte[] UniquePng(int size = 4096)
    {
        var bytes = new byte[size];
        RandomNumberGenerator.Fill(bytes);
        PngSignature.CopyTo(bytes, 0);
        return bytes;
    }

    public static string Sha256Hex(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>Keys that are not one of the two shapes, path traversal first.</summary>
    public static TheoryData<string> InvalidKeys() => new(
        "../secret",
        "images/../../etc/passwd",
        "images/../inputs/" + new string('a', 64),
        "/etc/passwd",
        "images/" + new string('a', 64) + ".png/..",
        "images\\..\\..\\secret",
        "..\\" + new string('a', 64),
        "images/" + new string('A', 64) + ".png",
        "images/" + new string('a', 63) + ".png",
        "images/" + new string('a', 64),
        "inputs/" + new string('a', 64) + ".png",
        "inputs/" + new string('a', 64) + "\n",
        "other/" + new string('a', 64),
        "");
}
