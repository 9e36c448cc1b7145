using System.Runtime.CompilerServices;
using Drover.Hub.Os;

namespace Drover.Hub.Tests;

/// <summary>The hubs in these tests run as <c>drover serve</c> runs them: with the socket engine's completions inline
/// (<see cref="SocketEngine"/>), set before the first socket of the test process. The agents in the same process run that
/// way too, which the agent library must bear (an application that embeds it may set the switch).</summary>
internal static class InlineSocketCompletions
{
    [ModuleInitializer]
    internal static void TurnOn() => SocketEngine.PreferInlineCompletions();
}
