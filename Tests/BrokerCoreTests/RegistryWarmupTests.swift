import BrokerCore
import Foundation
import Testing

/// When the registry warms up after the agent server restarted, and when it stops (the clock is
/// passed in, so nothing here waits).
@Suite(.timeLimit(.minutes(10))) struct RegistryWarmupTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func online(_ ids: [String]) -> [AgentStatusRecord] { ids.map { AgentStatusRecord(agentID: $0, isOnline: true) } }

    /// A registry that had `before` agents online and then got a new registration's first list.
    func restarted(before: Int, firstList: [AgentStatusRecord], policy: RegistryWarmup.Policy = .init()) -> (
        AgentRegistry, RegistryWarmup, expected: Int
    ) {
        let registry = AgentRegistry()
        registry.apply(AgentStatusUpdate(agents: online((0..<before).map { "agent_old\($0)" }), isFullUpdate: true))
        let warmup = RegistryWarmup(registry: registry, policy: policy)
        let expected = warmup.expectedOnline
        registry.sync.markUnsynced(reason: "agent server link down")
        registry.replaceAll(with: AgentStatusUpdate(agents: firstList, isFullUpdate: true))
        warmup.firstList(expected: expected, now: start)
        registry.sync.markSynced(now: start)
        return (registry, warmup, expected)
    }

    @Test func anEmptyListWarmsUpUntilHalfTheAgentsAreBack() {
        let (registry, warmup, expected) = restarted(before: 10, firstList: [])
        #expect(expected == 10)
        #expect(registry.sync.isWarming && registry.sync.isSynced, "synced, and warming from the first instant")
        #expect(registry.sync.status.warmup?.deadline == start.addingTimeInterval(30))
        for i in 1...4 {
            registry.apply(AgentStatusUpdate(agents: online(["agent_n\(i)"]), isFullUpdate: false))
            #expect(warmup.check(now: start.addingTimeInterval(Double(i))) == nil, "\(i) of 10 back")
        }
        registry.apply(AgentStatusUpdate(agents: online(["agent_n5"]), isFullUpdate: false))
        guard case .ended(let reason, let count, let after)? = warmup.check(now: start.addingTimeInterval(5)) else {
            Issue.record("the fifth agent of ten back ends the warm-up")
            return
        }
        #expect(reason.contains("5 of the 10 agents online before are back") && count == 5 && after == 5)
        #expect(!registry.sync.isWarming)
    }

    @Test func someAgentsBackAndNoneMoreForTheQuietPeriodEndIt() {
        let (registry, warmup, _) = restarted(before: 20, firstList: [])
        registry.apply(AgentStatusUpdate(agents: online(["agent_n1"]), isFullUpdate: false))
        #expect(warmup.check(now: start.addingTimeInterval(2)) == nil)
        #expect(warmup.nextCheck() == start.addingTimeInterval(7), "two seconds in, plus the 5 s quiet period")
        #expect(warmup.check(now: start.addingTimeInterval(6.9)) == nil)
        guard case .ended(let reason, _, _)? = warmup.check(now: start.addingTimeInterval(7)) else {
            Issue.record("quiet for 5 s with one agent back ends the warm-up")
            return
        }
        #expect(reason.contains("no other came"))
    }

    @Test func withNobodyBackTheDeadlineEndsIt() {
        let (registry, warmup, _) = restarted(before: 3, firstList: [])
        #expect(warmup.nextCheck() == start.addingTimeInterval(30))
        #expect(warmup.check(now: start.addingTimeInterval(29)) == nil)
        guard case .ended(let reason, let count, _)? = warmup.check(now: start.addingTimeInterval(30)) else {
            Issue.record("the deadline ends the warm-up")
            return
        }
        #expect(reason.contains("deadline") && count == 0)
        #expect(!registry.sync.isWarming)
    }

    @Test func aListThatKeptMostAgentsOrOfflineAgentsDoesNotWarmUp() {
        #expect(!restarted(before: 3, firstList: online(["agent_a", "agent_b"])).0.sync.isWarming)
        let offline = [AgentStatusRecord(agentID: "agent_a", isOnline: false)]
        #expect(!restarted(before: 0, firstList: offline).0.sync.isWarming, "nobody was online, nobody is")
        #expect(restarted(before: 3, firstList: online(["agent_a"])).0.sync.isWarming, "1 of 3: most are gone")
        #expect(restarted(before: 0, firstList: []).0.sync.isWarming, "a server that just started knows nobody yet")
        let off = RegistryWarmup.Policy(deadline: .zero)
        #expect(!restarted(before: 3, firstList: [], policy: off).0.sync.isWarming, "--warm-up 0")
    }

    @Test func aLostRegistrationEndsTheWarmUpAndASecondRestartStillExpectsTheFirstCount() {
        let (registry, warmup, _) = restarted(before: 4, firstList: [])
        registry.apply(AgentStatusUpdate(agents: online(["agent_n1"]), isFullUpdate: false))
        #expect(warmup.expectedOnline == 4, "one of four back: still four expected")
        registry.sync.markUnsynced(reason: "agent server link down")
        #expect(!registry.sync.isWarming)
    }
}
