using System.Runtime.InteropServices;

namespace DiT.Model.IO;

/// <summary>
/// Opens only regular files. A FIFO, socket or device passes <see cref="File.Exists"/> and .NET reports it as an
/// ordinary file, but opening a FIFO blocks until a writer appears and a device never ends: a checkpoint or image path
/// that names one would hang start-up or a request forever. The file type is read with stat(2) before opening.
/// </summary>
public static class RegularFile
{
    const int TypeMask = 0xF000, Regular = 0x8000; // S_IFMT, S_IFREG

    /// <summary>True when <paramref name="path"/> (symlinks followed) is a regular file.</summary>
    public static bool Is(string path)
    {
        if (OperatingSystem.IsWindows()) return File.Exists(path); // no FIFOs or devices in the Windows file namespace
        if (path.Contains('\0')) return false;
        return Stat(path, out var status) == 0 && (status.Mode & TypeMask) == Regular;
    }

    /// <summary>Throws unless <paramref name="path"/> is an existing regular file; the message names it.</summary>
    public static void Check(string path)
    {
        if (Is(path)) return;
        if (!File.Exists(path)) throw new FileNotFoundException($"'{path}' does not exist.", path);
        throw new IOException($"'{path}' is not a regular file (a FIFO, socket or device cannot be read as one).");
    }

    /// <summary><see cref="File.OpenRead"/> after <see cref="Check"/>.</summary>
    public static FileStream OpenRead(string path)
    {
        Check(path);
        return File.OpenRead(path);
    }

    // The runtime's own stat shim (what FileInfo uses): one layout on every Unix, unlike libc's struct stat.
    // Only its first fields are read; the buffer is larger than the struct in any .NET version.
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    struct FileStatus
    {
        public int Flags;
        public int Mode;
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_Stat", CharSet = CharSet.Ansi, SetLastError = true)]
    static extern int Stat(string path, out FileStatus status);
}
