import BrokerCore
import Foundation
import Testing

@Suite(.timeLimit(.minutes(10))) struct RegistryTests {
    func record(_ id: String, _ online: Bool, _ metrics: [String: String] = [:]) -> AgentStatusRecord {
        AgentStatusRecord(
            agentID: id, agentName: id, isOnline: online, lastSeen: "2024-05-01T12:00:00Z", metrics: metrics)
    }

    @Test func fullUpdateReplacesAndMarksMissingAgentsOffline() {
        let registry = AgentRegistry()
        registry.apply(AgentStatusUpdate(agents: [record("a", true), record("b", true)], isFullUpdate: true))
        let after = registry.apply(
            AgentStatusUpdate(agents: [record("b", true), record("c", true)], isFullUpdate: true))
        #expect(after.count == 3)
        #expect(after.agent(id: "a")?.isOnline == false)
        #expect(after.online.map(after.agentID(at:)) == ["b", "c"])
        #expect(after.lastFullUpdate != nil)
    }

    @Test func partialUpdateMergesAndKeepsCandidateSetsCurrent() {
        let registry = AgentRegistry(indexedMetrics: ["skill"])
        registry.apply(
            AgentStatusUpdate(
                agents: [record("a", true, ["skill": "x"]), record("b", true, ["skill": "y"])], isFullUpdate: true))
        let before = registry.snapshot
        let after = registry.apply(
            AgentStatusUpdate(
                agents: [record("a", false, ["skill": "x"]), record("c", true, ["skill": "x"])], isFullUpdate: false))
        #expect(after.online.map(after.agentID(at:)) == ["b", "c"])
        #expect(after.onlineAgents(metric: "skill", equals: "x").map { $0.map(after.agentID(at:)) } == ["c"])
        #expect(after.onlineAgents(metric: "other", equals: "x") == nil)
        // The older snapshot is untouched: readers keep a consistent view.
        #expect(before.online.map(before.agentID(at:)) == ["a", "b"])
        #expect(before.count == 2)
    }

    @Test func manyAgentsAcrossChunksStayAddressable() {
        let registry = AgentRegistry(indexedMetrics: ["zone"])
        let records = (0..<1000).map { record(String(format: "agent_%04d", $0), $0 % 2 == 0, ["zone": "z\($0 % 3)"]) }
        registry.apply(AgentStatusUpdate(agents: records, isFullUpdate: true))
        let snapshot = registry.apply(
            AgentStatusUpdate(agents: [record("agent_0999", true, ["zone": "z0"])], isFullUpdate: false))
        #expect(snapshot.online.count == 501)
        #expect(snapshot.agent(id: "agent_0999")?.isOnline == true)
        let zone0 = snapshot.onlineAgents(metric: "zone", equals: "z0")!.map(snapshot.agentID(at:))
        #expect(zone0 == zone0.sorted())
        #expect(zone0.contains("agent_0999"))
        #expect(zone0.count == (0..<1000).filter { $0 % 2 == 0 && $0 % 3 == 0 }.count + 1)
    }

    @Test func timestampsInBothServerForms() {
        let now = Date(timeIntervalSince1970: 1_714_566_000)  // 2024-05-01 12:20:00 UTC
        #expect(Timestamp.parse("2024-05-01T12:00:00Z", relativeTo: now)?.timeIntervalSince1970 == 1_714_564_800)
        #expect(Timestamp.parse("2024-05-01T14:00:00+02:00", relativeTo: now)?.timeIntervalSince1970 == 1_714_564_800)
        #expect(Timestamp.parse("2024-05-01 12:00:00.250", relativeTo: now)?.timeIntervalSince1970 == 1_714_564_800.25)
        #expect(Timestamp.parse("12:00:00", relativeTo: now)?.timeIntervalSince1970 == 1_714_564_800)
        #expect(Timestamp.parse("23:00:00", relativeTo: now)?.timeIntervalSince1970 == 1_714_518_000)
        #expect(Timestamp.parse("noon", relativeTo: now) == nil)
        #expect(Timestamp.parse("25:00:00", relativeTo: now) == nil)
    }

    @Test func statusUpdateJSONSkipsRecordsWithoutAnID() throws {
        guard
            case .object(let object) = try JSONParser.parse(
                #"{"agents":[{"agent_id":"a","is_online":true,"metrics":{"load":0.5}},{"agent_name":"x"}],"is_full_update":true}"#
            )
        else {
            Issue.record("not an object")
            return
        }
        let (update, problems) = AgentStatusUpdate.decode(json: object)
        #expect(update.isFullUpdate)
        #expect(update.agents.map(\.agentID) == ["a"])
        #expect(update.agents.first?.metrics == ["load": "0.5"])
        #expect(problems.map(\.description) == ["agents[1]: has no agent_id"])
    }
}
