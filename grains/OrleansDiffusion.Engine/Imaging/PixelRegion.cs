namespace OrleansDiffusion.Engine.Imaging;

/// <summary>A rectangle of pixels: its top-left corner and its size.</summary>
public readonly record struct PixelRegion(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;

    public int Bottom => Y + Height;
}
