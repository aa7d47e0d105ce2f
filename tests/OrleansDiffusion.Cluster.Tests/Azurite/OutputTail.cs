namespace OrleansDiffusion.Cluster.Tests.Azurite;

/// <summary>The last lines a child process wrote (stdout and stderr), for failure messages. Thread-safe.</summary>
public sealed class OutputTail(int lines = 40)
{
    private readonly Queue<string> _lines = new();

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lines)
        {
            _lines.Enqueue(line);
            while (_lines.Count > lines)
            {
                _lines.Dequeue();
            }
        }
    }

    public override string ToString()
    {
        lock (_lines)
        {
            return string.Join(Environment.NewLine, _lines);
        }
    }
}
