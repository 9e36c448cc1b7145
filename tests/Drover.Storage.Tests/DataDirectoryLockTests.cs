using Drover.Storage;
using Drover.Storage.Sqlite;

namespace Drover.Storage.Tests;

public sealed class DataDirectoryLockTests : IDisposable
{
    private readonly string _dir = Path.Combine(Directory.CreateTempSubdirectory("drover-lock-").FullName, "data");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path.GetDirectoryName(_dir)!, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public void Acquire_creates_the_directory_and_writes_the_owner_pid()
    {
        using var held = DataDirectoryLock.Acquire(_dir);

        Assert.True(File.Exists(Path.Combine(_dir, DataDirectoryLock.FileName)));
        Assert.Equal(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(_dir, DataDirectoryLock.PidFileName)).Trim());
    }

    [Fact]
    public void A_second_lock_on_a_held_directory_is_refused_with_the_owner_and_granted_once_released()
    {
        var held = DataDirectoryLock.Acquire(_dir);

        var refused = Assert.Throws<StoreException>(() => DataDirectoryLock.Acquire(_dir));
        Assert.Contains($"is in use by another hub (pid {Environment.ProcessId})", refused.Message, StringComparison.Ordinal);

        held.Dispose();
        using var again = DataDirectoryLock.Acquire(_dir);
        Assert.Equal(Path.GetFullPath(_dir), again.Directory);
    }
}
