using System.Globalization;
using System.Text;

namespace Drover.Cli.Demo;

/// <summary>The small CSV-ish files <c>drover demo</c> sends: a header and 5 to 80 rows of weather readings.
/// About one file in 50 has a row with a missing field, which <see cref="DemoJobHandler"/> refuses (so the
/// demo shows retries and dead jobs too).</summary>
internal static class SampleFiles
{
    public const string Header = "station,date,temp_c,note";

    private static readonly string[] Stations = ["oslo", "lyon", "porto", "kyiv", "riga", "bern", "cork", "graz"];
    private static readonly string[] Notes = ["clear", "light rain", "fog in the morning", "wind from the west", "snow", "sunny spells", "heavy rain at night"];

    /// <summary>Sample number <paramref name="number"/>: its file name and content.</summary>
    public static (string Name, byte[] Content) Create(Random random, long number)
    {
        var station = Stations[random.Next(Stations.Length)];
        var rows = random.Next(5, 81);
        var badRow = random.Next(50) == 0 ? random.Next(rows) : -1;
        var day = new DateOnly(2026, 1, 1).AddDays(random.Next(300));
        var text = new StringBuilder(Header.Length + (rows * 40)).Append(Header).Append('\n');
        for (var i = 0; i < rows; i++)
        {
            text.Append(station).Append(',').Append(day.AddDays(i).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).Append(',');
            if (i != badRow)
            {
                text.Append(((random.NextDouble() * 40) - 10).ToString("0.0", CultureInfo.InvariantCulture)).Append(',');
            }

            text.Append(Notes[random.Next(Notes.Length)]).Append('\n');
        }

        return ($"{station}-{number:D6}.csv", Encoding.UTF8.GetBytes(text.ToString()));
    }
}
