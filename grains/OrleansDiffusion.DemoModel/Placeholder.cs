namespace OrleansDiffusion.DemoModel;
