namespace Drover.Hub.Http;

/// <summary>Where the HTTP API spools uploaded files (<see cref="UploadSpool"/>): <see cref="HubOptions.UploadDirectory"/>,
/// or a directory of the hub's own under the system's temporary directory. <see cref="Prepare"/> (at the hub's start)
/// creates it, readable by the hub's user only, and deletes the spool files an earlier run left (a crash mid-request);
/// <see cref="Dispose"/> (at the hub's stop) deletes a directory the hub made for itself.</summary>
internal sealed class UploadDirectory(string? configured) : IDisposable
{
    private string? _path;

    /// <summary>The directory; set by <see cref="Prepare"/>.</summary>
    public string Path => _path ?? throw new InvalidOperationException("the upload directory is not prepared (the hub has not started)");

    /// <summary>Creates the directory (mode 0700) or, when <see cref="HubOptions.UploadDirectory"/> is null, a new one under
    /// the temporary directory, and deletes the spool files left in it. Returns how many it deleted.</summary>
    public int Prepare()
    {
        if (configured is null)
        {
            _path ??= Directory.CreateTempSubdirectory("drover-uploads-").FullName;
            return 0;
        }

        _path = System.IO.Path.GetFullPath(configured);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(_path);
        }
        else
        {
            Directory.CreateDirectory(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var deleted = 0;
        foreach (var file in Directory.EnumerateFiles(_path, "*" + UploadSpool.Extension))
        {
            File.Delete(file);
            deleted++;
        }

        return deleted;
    }

    /// <summary>Deletes the directory if the hub made it for itself (nothing is spooled once the API has stopped).</summary>
    public void Dispose()
    {
        if (configured is null && _path is not null)
        {
            try
            {
                Directory.Delete(_path, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }

            _path = null;
        }
    }
}
