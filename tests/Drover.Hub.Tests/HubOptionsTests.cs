namespace Drover.Hub.Tests;

/// <summary><see cref="HubOptions"/>' one set of rules: <see cref="HubOptions.GetValidationErrors"/> lists them with the
/// properties they concern (what a host's options validator names), <see cref="HubOptions.Validate"/> throws the first.</summary>
public sealed class HubOptionsTests
{
    [Fact]
    public void Every_broken_rule_is_listed_with_the_properties_it_concerns_and_Validate_throws_the_first()
    {
        Assert.Empty(new HubOptions().GetValidationErrors());

        var options = new HubOptions
        {
            StaleAfter = TimeSpan.FromHours(2),
            RetireAfter = TimeSpan.FromHours(1),
            MaxFileSize = 4 * 1024 * 1024,
            MaxQueuedBytes = 1024 * 1024,
        };
        var errors = options.GetValidationErrors();
        Assert.Equal(2, errors.Count);
        Assert.Equal([nameof(HubOptions.StaleAfter), nameof(HubOptions.RetireAfter)], errors[0].MemberNames);
        Assert.Equal([nameof(HubOptions.MaxQueuedBytes), nameof(HubOptions.MaxFileSize)], errors[1].MemberNames);

        var thrown = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(errors[0].ErrorMessage, thrown.Message);
    }
}
