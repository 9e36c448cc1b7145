namespace Drover.Storage.Sqlite.Internal;

/// <summary>The job store's memory of the files it stored lately: each one's row in <c>contents</c>, by hash, so that a job
/// whose file is already stored (the same script sent to every agent) shares that row instead of storing the file again.
/// There is no index on the hash in the file: its keys are random, so it would rewrite a page of itself for nearly every new
/// file (measured: 6 KiB more written per 4 KiB job, docs/benchmarks.md). Used by the one writer, inside its transactions.</summary>
/// <remarks>Two generations of at most <see cref="GenerationSize"/> files each: when the newer is full it becomes the older
/// and the older is forgotten; a file found in the older moves to the newer. So a file sent again and again stays known, and
/// a file is stored twice only when more than <see cref="GenerationSize"/> other files were stored since it was last sent.
/// About 50 bytes a file, 1.6 MiB at most. A hint only: the caller checks that the row still holds that hash (a rolled-back
/// transaction, or a prune, may have taken it away).</remarks>
internal sealed class RecentContents(int generationSize = RecentContents.GenerationSize)
{
    /// <summary>Files in each generation.</summary>
    public const int GenerationSize = 16_384;

    private Dictionary<Sha256Key, long> _newer = [];
    private Dictionary<Sha256Key, long> _older = [];

    /// <summary>The row that stored the file of <paramref name="key"/> lately, if any.</summary>
    public bool TryFind(Sha256Key key, out long contentId)
    {
        if (_newer.TryGetValue(key, out contentId))
        {
            return true;
        }

        if (_older.Remove(key, out contentId))
        {
            Remember(key, contentId);
            return true;
        }

        return false;
    }

    /// <summary>The file of <paramref name="key"/> is stored in row <paramref name="contentId"/>.</summary>
    public void Remember(Sha256Key key, long contentId)
    {
        if (_newer.Count >= generationSize && !_newer.ContainsKey(key))
        {
            (_older, _newer) = (_newer, _older);
            _newer.Clear();
        }

        _newer[key] = contentId;
    }
}
