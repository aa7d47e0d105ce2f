namespace OrleansDiffusion.Engine.Tests;
