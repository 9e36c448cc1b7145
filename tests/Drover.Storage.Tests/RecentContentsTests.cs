using System.Security.Cryptography;
using Drover.Storage.Sqlite.Internal;

namespace Drover.Storage.Tests;

public sealed class RecentContentsTests
{
    private static Sha256Key Key(int n) => Sha256Key.Of(SHA256.HashData(BitConverter.GetBytes(n)));

    [Fact]
    public void A_file_is_found_while_fewer_than_a_generation_of_other_files_came_after_it_and_one_sent_again_stays()
    {
        var recent = new RecentContents(generationSize: 4);
        recent.Remember(Key(0), 100);
        recent.Remember(Key(1), 101);
        for (int n = 2; n < 8; n++)
        {
            recent.Remember(Key(n), 100 + n);
            Assert.True(recent.TryFind(Key(1), out long again)); // sent again and again: moves to the newer generation
            Assert.Equal(101, again);
        }

        Assert.False(recent.TryFind(Key(0), out _)); // more than a generation of files since: forgotten
        Assert.True(recent.TryFind(Key(7), out long id));
        Assert.Equal(107, id);
        Assert.False(recent.TryFind(Key(99), out _));
    }

    [Fact]
    public void A_sha256_key_is_equal_for_equal_hashes_and_refuses_a_hash_of_the_wrong_length()
    {
        Assert.Equal(Key(5), Sha256Key.Of(SHA256.HashData(BitConverter.GetBytes(5))));
        Assert.NotEqual(Key(5), Key(6));
        Assert.Throws<ArgumentException>(() => Sha256Key.Of(new byte[31]));
    }
}
