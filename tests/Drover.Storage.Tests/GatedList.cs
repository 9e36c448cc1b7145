using System.Collections;

namespace Drover.Storage.Tests;

/// <summary>A read-only list that runs <c>onFirstAccess</c> the first time the store reads the
/// item at <c>gateIndex</c>, by indexer or enumerator. Lets a test act in the middle of a batch
/// write (while its transaction is open) without depending on timing.</summary>
internal sealed class GatedList<T>(IReadOnlyList<T> items, int gateIndex, Action onFirstAccess) : IReadOnlyList<T>
{
    private int _passed;

    public int Count => items.Count;

    public T this[int index]
    {
        get
        {
            if (index == gateIndex && Interlocked.Exchange(ref _passed, 1) == 0)
            {
                onFirstAccess();
            }

            return items[index];
        }
    }

    public IEnumerator<T> GetEnumerator()
    {
        for (int i = 0; i < items.Count; i++)
        {
            yield return this[i];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
