import BrokerCore

/// A synced registry with three online agents, `agent_a`, `agent_b` and `agent_c` (the agents of
/// `rules/registries/three-agents.yaml` are named differently: that file is the operators'), its
/// states dated by `clock`.
public func threeOnlineAgents(clock: any WallClock = SystemWallClock()) -> AgentRegistry {
    let registry = AgentRegistry(clock: clock)
    registry.apply(
        AgentStatusUpdate(
            agents: ["agent_a", "agent_b", "agent_c"].map { AgentStatusRecord(agentID: $0, isOnline: true) },
            isFullUpdate: true))
    registry.sync.markSynced()
    return registry
}
