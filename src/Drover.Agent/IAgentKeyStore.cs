namespace Drover.Agent;

/// <summary>Where an agent keeps its agent key (its credential at the hub: docs/protocol.md, "Agent keys") and the key it
/// rotates to. The agent presents <see cref="Pending"/> when there is one (a rotation the hub may have stored before the
/// agent heard back), else <see cref="Current"/>; it calls <see cref="PrepareNext"/> before it asks the hub to rotate,
/// <see cref="CommitNext"/> once the hub confirmed (or welcomed the next key), and <see cref="DropNext"/> when the hub
/// does not know the next key (the rotation never reached it). <see cref="AgentIdentity.OpenKeyStore"/> keeps both in a
/// state directory. Called from one agent at a time.</summary>
public interface IAgentKeyStore
{
    /// <summary>The key the hub has bound the agent's id to, as far as the agent knows.</summary>
    string Current { get; }

    /// <summary>The next key, made for a rotation that is not confirmed yet; null when none.</summary>
    string? Pending { get; }

    /// <summary>Makes a new key, keeps it durably as <see cref="Pending"/> and returns it (or returns the
    /// <see cref="Pending"/> there is).</summary>
    string PrepareNext();

    /// <summary>The hub has the next key: it becomes <see cref="Current"/>, durably.</summary>
    void CommitNext();

    /// <summary>The hub does not know the next key: forget it.</summary>
    void DropNext();
}
