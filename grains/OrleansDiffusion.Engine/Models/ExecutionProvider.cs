namespace OrleansDiffusion.Engine.Models;

public enum ExecutionProvider
{
    Cpu,
    Cuda,
}
