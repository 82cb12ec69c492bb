import AgentServerSimulator
import AgentStatusGRPC
import BrokerCore
import SwiftProtobuf
import TestSupport
import Testing

/// A hostile status server can neither keep the registry from syncing nor fill the memory.
@Suite(.timeLimit(.minutes(10))) struct StatusListBoundsTests {
    /// The protobuf encoding of one `AgentInfo` record whose agent id is `id` (any bytes).
    func record(id: [UInt8], online: Bool = true) -> [UInt8] {
        var info: [UInt8] = [0x0A, UInt8(id.count)] + id
        if online { info += [0x18, 0x01] }
        return [0x0A, UInt8(info.count)] + info
    }

    func decode(_ bytes: [UInt8], maximumAgents: Int = 100) throws -> DecodedStatusList {
        try bytes.withUnsafeBytes { try DecodedStatusList(protobuf: $0, maximumAgents: maximumAgents) }
    }

    @Test func oneRecordWithInvalidUTF8IsSkippedAndTheRestOfTheListKept() throws {
        let list =
            record(id: Array("agent_a".utf8)) + record(id: [0x61, 0xFF, 0xFE]) + record(id: Array("agent_b".utf8))
            + [0x10, 0x01]
        #expect(throws: (any Error).self, "the generated decoder refuses the whole list") {
            try AgentStatus_AgentStatusResponse(serializedBytes: list)
        }
        let decoded = try decode(list)
        #expect(decoded.update.agents.map(\.agentID) == ["agent_a", "agent_b"])
        #expect(decoded.update.isFullUpdate)
        #expect(decoded.unreadable == 1)
    }

    @Test func aListBeyondTheLimitKeepsTheFirstAgentsAndCountsTheRest() throws {
        let records: [UInt8] = (0..<250).flatMap { record(id: Array("agent_\($0)".utf8)) }
        let list = records + [0x10, 0x01]
        let decoded = try decode(list, maximumAgents: 100)
        #expect(decoded.update.agents.count == 100)
        #expect(decoded.update.agents.last?.agentID == "agent_99")
        #expect(decoded.overLimit == 150)
    }

    @Test func aMalformedListIsAnErrorAndRecordsWithoutAnIDAreSkipped() throws {
        #expect(throws: StatusListError.self) { try decode([0x0A, 0x50, 0x0A]) }
        #expect(throws: StatusListError.self) { try decode([0x0F]) }
        let decoded = try decode(record(id: []) + record(id: Array("agent_a".utf8)))
        #expect(decoded.update.agents.map(\.agentID) == ["agent_a"])
        #expect(decoded.unreadable == 1)
        #expect(decoded.update.isFullUpdate == false)
    }

    /// The wire decoder reads what the generated code writes, field for field.
    @Test func itReadsWhatTheGeneratedEncoderWrites() throws {
        let update = AgentStatusUpdate(agents: agents(3), isFullUpdate: true)
        let bytes: [UInt8] = try AgentStatus_AgentStatusResponse(update).serializedBytes()
        let decoded = try decode(bytes)
        #expect(decoded.update == update)
        #expect(decoded.unreadable == 0 && decoded.overLimit == 0)
    }

    @Test func theFeedKeepsAtMostItsLimitOfAgentsFromTheServer() async throws {
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(1_500))
        try await simulator.start()
        let h = Harness(simulator: simulator) { _, feed in feed.maximumAgents = 1_000 }
        let registry = h.agentRegistry
        try await eventually("the capped list syncs") { registry.sync.isSynced }
        #expect(registry.snapshot.count == 1_000)
        #expect(registry.snapshot.agent(id: "agent_00999") != nil && registry.snapshot.agent(id: "agent_01000") == nil)
        await h.stop()
    }
}
