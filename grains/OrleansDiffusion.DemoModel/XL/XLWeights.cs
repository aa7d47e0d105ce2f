namespace OrleansDiffusion.DemoModel.XL;

/// <summary>
/// The weights of an SDXL-shaped demo model beyond SD's: a second text encoder (its own weights, wider, one layer more,
/// with a projection to <c>text_embeds</c>), and what the UNet makes of SDXL's conditioning. The UNet compares the
/// concatenated penultimate states with the empty prompt's (each encoder padded as its tokenizer pads), as the SD demo
/// UNet compares its text; <c>text_embeds</c> and <c>time_ids</c> each shift the clean estimate's brightness by how far
/// they are from the empty prompt's and from "uncropped, at this size", so that both visibly reach the picture.
/// </summary>
internal sealed class XLWeights
{
    /// <summary>The first encoder's width (CLIP-L: 768).</summary>
    public const int Hidden1 = 32;

    /// <summary>The second encoder's width (OpenCLIP bigG: 1280).</summary>
    public const int Hidden2 = 48;

    /// <summary>The size of <c>text_embeds</c> (bigG's projection: 1280).</summary>
    public const int PooledSize = 40;

    /// <summary><c>tokenizer_2</c> pads with <c>!</c>, id 0, after the first end token.</summary>
    public const int Tokenizer2PadId = 0;

    /// <summary>The SDXL VAE's scaling factor.</summary>
    public const float VaeScalingFactor = 0.13025f;

    /// <summary>
    /// How far <c>text_embeds</c> and <c>time_ids</c> each move the clean estimate along grey at most, in RGB (-1 to 1):
    /// clearly visible, far from clipping.
    /// </summary>
    public const double ConditioningStrength = 0.08;

    /// <summary>
    /// Per <c>time_ids</c> value (original height, width, crop top, left, target height, width), its weight in the
    /// brightness shift: zero for "uncropped, original size = target size", and heights weigh differently from widths.
    /// </summary>
    public static readonly float[] TimeIdWeights = [1f / 32, 2f / 32, 1f / 32, 2f / 32, -1f / 32, -2f / 32];

    public XLWeights(int seed, int layers)
    {
        First = new DemoModelWeights(Hidden1, seed, layers);
        Second = new DemoModelWeights(Hidden2, seed, layers + 1, "text_encoder_2");
        PooledProjection = new DeterministicRandom(seed, "text_encoder_2.text_projection").Uniform(Hidden2 * PooledSize, 1.0 / Math.Sqrt(Hidden2));
        TintProjection = new DeterministicRandom(seed, "unet.xl_tint_projection").Uniform(HiddenSize * DemoModelWeights.TintCoefficients, 1.5 / Math.Sqrt(HiddenSize));
        PooledWeights = new DeterministicRandom(seed, "unet.pooled_brightness").Uniform(PooledSize, 2.0 / Math.Sqrt(PooledSize));

        var empty = EmptyIds(DemoModelWeights.EosTokenId);
        var empty2 = EmptyIds(Tokenizer2PadId);
        var first = First.LayerStates(empty)[layers - 1];
        var second = Second.LayerStates(empty2)[layers];
        EmptyHiddenStates = new float[DemoModelSignature.MaxSequenceLength * HiddenSize];
        for (var t = 0; t < DemoModelSignature.MaxSequenceLength; t++)
        {
            for (var i = 0; i < Hidden1; i++)
            {
                EmptyHiddenStates[(t * HiddenSize) + i] = (float)first[(t * Hidden1) + i];
            }

            for (var i = 0; i < Hidden2; i++)
            {
                EmptyHiddenStates[(t * HiddenSize) + Hidden1 + i] = (float)second[(t * Hidden2) + i];
            }
        }

        EmptyPooled = Pooled(empty2);
    }

    /// <summary>The width of <c>encoder_hidden_states</c>: both encoders' (SDXL: 2048).</summary>
    public static int HiddenSize => Hidden1 + Hidden2;

    /// <summary>CLIP-L's stand-in.</summary>
    public DemoModelWeights First { get; }

    /// <summary>OpenCLIP bigG's stand-in.</summary>
    public DemoModelWeights Second { get; }

    /// <summary>[Hidden2, PooledSize]: the second encoder's mean state to <c>text_embeds</c>.</summary>
    public float[] PooledProjection { get; }

    /// <summary>[HiddenSize, 3]: a token's concatenated state to its share of the hue coordinates and the brightness.</summary>
    public float[] TintProjection { get; }

    /// <summary>[PooledSize]: <c>text_embeds</c> minus the empty prompt's, to the brightness shift.</summary>
    public float[] PooledWeights { get; }

    /// <summary>[77, HiddenSize]: the empty prompt's concatenated penultimate states.</summary>
    public float[] EmptyHiddenStates { get; }

    /// <summary>[PooledSize]: the empty prompt's <c>text_embeds</c>.</summary>
    public float[] EmptyPooled { get; }

    /// <summary>The second encoder's <c>text_embeds</c> for <paramref name="ids"/>, in double precision then rounded.</summary>
    public float[] Pooled(ReadOnlySpan<int> ids)
    {
        var states = Second.HiddenStates(ids);
        var mean = new double[Hidden2];
        for (var t = 0; t < ids.Length; t++)
        {
            for (var i = 0; i < Hidden2; i++)
            {
                mean[i] += states[(t * Hidden2) + i] / (double)ids.Length;
            }
        }

        var pooled = new float[PooledSize];
        for (var j = 0; j < PooledSize; j++)
        {
            var sum = 0.0;
            for (var i = 0; i < Hidden2; i++)
            {
                sum += mean[i] * PooledProjection[(i * PooledSize) + j];
            }

            pooled[j] = (float)sum;
        }

        return pooled;
    }

    /// <summary>The empty prompt's ids: start, end, then <paramref name="pad"/>.</summary>
    public static int[] EmptyIds(int pad)
    {
        var ids = new int[DemoModelSignature.MaxSequenceLength];
        Array.Fill(ids, pad);
        ids[0] = DemoModelWeights.BosTokenId;
        ids[1] = DemoModelWeights.EosTokenId;
        return ids;
    }
}
