namespace OrleansDiffusion.DemoModel;

/// <summary>
/// An orthonormal basis of the 4 latent channels built from the decoder's colour matrix M: a luma direction (decodes to
/// grey), two chroma directions (decode to colours with no grey) and M's null direction (decodes to nothing). The UNet's prior is diagonal in
/// it, so that a picture's structure can be mostly light and shade while its hue comes from the prompt.
/// </summary>
internal static class LatentColorBasis
{
    public const int Luma = 0;
    public const int ChromaA = 1;
    public const int ChromaB = 2;
    public const int Invisible = 3;

    /// <summary>
    /// Two orthonormal RGB chroma axes (perpendicular to grey): red against cyan, and green against blue. Hue
    /// angles in their plane are the colour wheel.
    /// </summary>
    public static readonly double[][] RgbChromaAxes =
    [
        [2 / Math.Sqrt(6), -1 / Math.Sqrt(6), -1 / Math.Sqrt(6)],
        [0, 1 / Math.Sqrt(2), -1 / Math.Sqrt(2)],
    ];

    /// <summary>RGB grey, (1, 1, 1).</summary>
    public static readonly double[] RgbGrey = [1, 1, 1];

    /// <summary>The smallest latent (scaled, as the UNet sees it) that decodes to <paramref name="rgb"/>: pinv(M) rgb.</summary>
    public static double[] LatentOf(IReadOnlyList<double> rgb)
    {
        var toLatent = DemoModelWeights.RgbToLatent();
        var latent = new double[DemoModelWeights.LatentChannels];
        for (var l = 0; l < latent.Length; l++)
        {
            for (var k = 0; k < 3; k++)
            {
                latent[l] += toLatent[l, k] * rgb[k];
            }
        }

        return latent;
    }

    /// <summary>Rows: the unit latent directions luma, chroma A, chroma B, invisible.</summary>
    public static double[][] Directions()
    {
        const int c = DemoModelWeights.LatentChannels;

        // Grey and the chroma axes span pinv(M)'s range, the row space of M; what is left is its null space.
        List<double[]> basis = [];
        double[][] spanning =
        [
            LatentOf(RgbGrey), LatentOf(RgbChromaAxes[0]), LatentOf(RgbChromaAxes[1]),
            [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
        ];
        foreach (var vector in spanning)
        {
            var residual = (double[])vector.Clone();
            foreach (var direction in basis)
            {
                var dot = Dot(residual, direction);
                for (var i = 0; i < c; i++)
                {
                    residual[i] -= dot * direction[i];
                }
            }

            // The channel axes are tried in order until the fourth direction is found; the others are (nearly) spanned.
            if (basis.Count < c && Norm(residual) > 0.1 * Norm(vector))
            {
                basis.Add(Normalized(residual));
            }
        }

        return [.. basis];
    }

    private static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();

    private static double Norm(double[] a) => Math.Sqrt(Dot(a, a));

    private static double[] Normalized(double[] a) => [.. a.Select(v => v / Norm(a))];
}
