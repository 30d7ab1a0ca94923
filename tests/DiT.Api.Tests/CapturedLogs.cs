using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DiT.Api.Tests;

/// <summary>Every log entry of one service, for tests of what is (not) logged. Add with <c>logging.AddProvider(logs)</c>.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    public sealed record Entry(string Category, LogLevel Level, string Message, Exception? Exception);

    readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose() { }

    sealed class Logger(string category, ConcurrentQueue<Entry> into) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            into.Enqueue(new Entry(category, logLevel, formatter(state, exception), exception));
    }
}
