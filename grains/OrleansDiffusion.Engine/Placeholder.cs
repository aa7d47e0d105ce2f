namespace OrleansDiffusion.Engine;
