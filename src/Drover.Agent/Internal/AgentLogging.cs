using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Drover.Agent.Internal;

/// <summary>One logger category per role type (<c>Drover.Agent.Internal.Session.HubSession</c>, ...), all under
/// "Drover.Agent" so a filter on that prefix still covers the whole library. <see cref="AgentOptions.Logger"/>, when
/// set, takes precedence and serves every role.</summary>
internal static class AgentLogging
{
    public static ILogger For<T>(AgentOptions options) =>
        options.Logger ?? (ILogger?)options.LoggerFactory?.CreateLogger<T>() ?? NullLogger.Instance;
}
