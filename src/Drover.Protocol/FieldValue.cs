using System.Globalization;

namespace Drover.Protocol;

/// <summary>The kind byte in front of each free-form status field value.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "The names of the wire's value kinds, as docs/protocol.md names them.")]
public enum FieldKind : byte
{
    Null = 0,
    Bool = 1,
    Int = 2,
    Float = 3,
    String = 4,
}

/// <summary>One free-form status field value: null, bool, 64-bit integer, 64-bit float or string.</summary>
public readonly record struct FieldValue
{
    private FieldValue(FieldKind kind, long integer, double number, string? text)
    {
        Kind = kind;
        Integer = integer;
        Number = number;
        Text = text;
    }

    public FieldKind Kind { get; }

    /// <summary>The value when <see cref="Kind"/> is Int, or 0/1 when it is Bool.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "An integer field's value; the kind is called Int on the wire.")]
    public long Integer { get; }

    /// <summary>The value when <see cref="Kind"/> is Float.</summary>
    public double Number { get; }

    /// <summary>The value when <see cref="Kind"/> is String.</summary>
    public string? Text { get; }

    public static FieldValue Null => default;

    public static FieldValue From(bool value) => new(FieldKind.Bool, value ? 1 : 0, 0, null);

    public static FieldValue From(long value) => new(FieldKind.Int, value, 0, null);

    public static FieldValue From(double value) => new(FieldKind.Float, 0, value, null);

    public static FieldValue From(string value) => new(FieldKind.String, 0, 0, value ?? throw new ArgumentNullException(nameof(value)));

    /// <summary>The value as a plain CLR object (null, bool, long, double or string), for JSON.</summary>
    public object? ToObject() => Kind switch
    {
        FieldKind.Bool => Integer != 0,
        FieldKind.Int => Integer,
        FieldKind.Float => Number,
        FieldKind.String => Text,
        _ => null,
    };

    public override string ToString() => Kind switch
    {
        FieldKind.Bool => Integer != 0 ? "true" : "false",
        FieldKind.Int => Integer.ToString(CultureInfo.InvariantCulture),
        FieldKind.Float => Number.ToString("R", CultureInfo.InvariantCulture),
        FieldKind.String => Text!,
        _ => "null",
    };

    internal int EncodedSize => 1 + Kind switch
    {
        FieldKind.Null => 0,
        FieldKind.Bool => 1,
        FieldKind.Int or FieldKind.Float => 8,
        _ => PayloadSize.Of(Text!),
    };

    internal void Write(ref PayloadWriter writer)
    {
        writer.WriteU8((byte)Kind);
        switch (Kind)
        {
            case FieldKind.Bool:
                writer.WriteU8((byte)Integer);
                break;
            case FieldKind.Int:
                writer.WriteI64(Integer);
                break;
            case FieldKind.Float:
                writer.WriteF64(Number);
                break;
            case FieldKind.String:
                writer.WriteString(Text!);
                break;
        }
    }

    /// <summary>Checks one encoded value exactly as <see cref="Read"/> would, without allocating.</summary>
    internal static void Skip(ref PayloadReader reader)
    {
        var kind = (FieldKind)reader.ReadU8();
        switch (kind)
        {
            case FieldKind.Null:
                break;
            case FieldKind.Bool:
                var b = reader.ReadU8();
                if (b > 1)
                {
                    throw new ProtocolException(ErrorCode.Malformed, $"bool field value must be 0 or 1, got {b}");
                }

                break;
            case FieldKind.Int or FieldKind.Float:
                reader.Skip(8);
                break;
            case FieldKind.String:
                reader.SkipString();
                break;
            default:
                throw new ProtocolException(ErrorCode.Malformed, $"unknown field kind {(byte)kind}");
        }
    }

    internal static FieldValue Read(ref PayloadReader reader)
    {
        var kind = (FieldKind)reader.ReadU8();
        return kind switch
        {
            FieldKind.Null => Null,
            FieldKind.Bool => reader.ReadU8() switch
            {
                0 => From(false),
                1 => From(true),
                var b => throw new ProtocolException(ErrorCode.Malformed, $"bool field value must be 0 or 1, got {b}"),
            },
            FieldKind.Int => From(reader.ReadI64()),
            FieldKind.Float => From(reader.ReadF64()),
            FieldKind.String => From(reader.ReadString()),
            _ => throw new ProtocolException(ErrorCode.Malformed, $"unknown field kind {(byte)kind}"),
        };
    }
}
