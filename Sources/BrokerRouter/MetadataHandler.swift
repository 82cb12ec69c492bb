import BrokerCore
import BrokerTransports

/// Applies the agent server's control messages from `agent_metadata_queue` to the registry:
/// `REGISTER_AGENT` marks an agent online, `CLIENT_DISCONNECTED` marks it offline.
///
/// The agent id is read from `agent_id`, else `client_id`, else `sender_id`. Ids the registry
/// does not know are considered only when they look like agents (`agent_…`), so frontend
/// clients do not enter the registry; what then applies is the router's ``DataPathAdmission``
/// decision (with feed trust, the feed is asked about an unknown agent instead). Every message
/// is acknowledged: these carry no routing duty.
public struct MetadataHandler: Sendable {
    let registry: AgentRegistry
    let admission: DataPathAdmission

    public init(registry: AgentRegistry, admission: DataPathAdmission = DataPathAdmission()) {
        self.registry = registry
        self.admission = admission
    }

    /// Handles every message of `input` until its stream ends.
    public func run(_ input: some InboundSource) async {
        for await message in input.messages {
            apply(message.body)
            message.settlement.ack()
        }
    }

    /// Applies one control message; returns whether it changed the registry.
    @discardableResult
    public func apply(_ body: [UInt8]) -> Bool {
        guard let message = try? Message(decoding: body) else { return false }
        let online: Bool
        switch message.messageType {
        case "REGISTER_AGENT": online = true
        case "CLIENT_DISCONNECTED": online = false
        default: return false
        }
        guard let id = message[string: "agent_id"] ?? message[string: "client_id"] ?? message.senderID else {
            return false
        }
        let known = registry.snapshot.agent(id: id)
        guard known != nil || id.hasPrefix("agent_") else { return false }
        let record = AgentStatusRecord(
            agentID: id, agentName: message[string: "agent_name"] ?? known?.name ?? "", isOnline: online,
            lastSeen: known?.lastSeenRaw ?? "", metrics: known?.metrics.dictionary ?? [:])
        return admission.apply(AgentStatusUpdate(agents: [record], isFullUpdate: false), to: registry).applied == 1
    }
}
