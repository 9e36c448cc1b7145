namespace Drover.Protocol.Tests;

public sealed class FieldJsonTests
{
    [Fact]
    public void Fields_are_written_as_one_object_in_order()
    {
        KeyValuePair<string, FieldValue>[] fields =
        [
            new("ok", FieldValue.From(true)),
            new("jobs", FieldValue.From(3L)),
            new("load", FieldValue.From(0.5)),
            new("name", FieldValue.From("a\"b")),
            new("none", FieldValue.Null),
        ];

        Assert.Equal("{\"ok\":true,\"jobs\":3,\"load\":0.5,\"name\":\"a\\u0022b\",\"none\":null}", FieldJson.ToJson(fields));
    }

    [Fact]
    public void A_float_that_JSON_cannot_hold_is_written_as_its_text()
    {
        KeyValuePair<string, FieldValue>[] fields = [new("x", FieldValue.From(double.NaN))];

        Assert.Equal([new KeyValuePair<string, FieldValue>("x", FieldValue.From(FieldValue.From(double.NaN).ToString()))], FieldJson.Parse(FieldJson.ToJson(fields)));
    }

    [Fact]
    public void Written_fields_read_back_the_same()
    {
        KeyValuePair<string, FieldValue>[] fields =
        [
            new("ok", FieldValue.From(false)),
            new("big", FieldValue.From(long.MaxValue)),
            new("small", FieldValue.From(-7L)),
            new("load", FieldValue.From(1.25)),
            new("text", FieldValue.From("é ☃")),
            new("none", FieldValue.Null),
        ];

        Assert.Equal(fields, FieldJson.Parse(FieldJson.ToJson(fields)));
    }

    [Fact]
    public void Numbers_read_as_int_when_they_fit_and_nested_values_as_their_text()
    {
        var fields = FieldJson.Parse("{\"n\":42,\"f\":4.5,\"huge\":1e30,\"list\":[1, 2],\"obj\":{\"a\":1}}");

        Assert.Equal(
            [
                new("n", FieldValue.From(42L)),
                new("f", FieldValue.From(4.5)),
                new("huge", FieldValue.From(1e30)),
                new("list", FieldValue.From("[1, 2]")),
                new KeyValuePair<string, FieldValue>("obj", FieldValue.From("{\"a\":1}")),
            ],
            fields);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void No_text_is_no_fields(string? json) => Assert.Empty(FieldJson.Parse(json));
}
