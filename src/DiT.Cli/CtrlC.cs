namespace DiT.Cli;

/// <summary>How the training commands stop: Ctrl+C finishes the current step and saves a checkpoint; a second one quits at once.</summary>
static class CtrlC
{
    /// <summary>A source cancelled by the first Ctrl+C (which no longer ends the process).</summary>
    public static CancellationTokenSource SavesACheckpoint()
    {
        var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (stop.IsCancellationRequested) return; // a second Ctrl+C ends the process at once
            e.Cancel = true;
            Console.Error.WriteLine("Stopping: saving a checkpoint after this step (Ctrl+C again to quit without saving)...");
            stop.Cancel();
        };
        return stop;
    }
}
