import BrokerCore
import Foundation
import RoutingRules
import TestSupport

/// The test corpus directory.
let corpus = repositoryRoot.appendingPathComponent("Tests/RoutingRulesTests/Corpus")

/// Compiles rule text, failing the test with every diagnostic if it does not compile.
func compile(_ yaml: String, file: String = "test.yaml") throws -> RuleSet {
    let result = RuleSetLoader().load([RuleSource(name: file, text: yaml)])
    guard let ruleSet = result.ruleSet else {
        throw RuleTestError(message: result.diagnostics.map(\.description).joined(separator: "\n"))
    }
    return ruleSet
}

/// The diagnostics for rule text.
func diagnostics(_ yaml: String, file: String = "test.yaml") -> [String] {
    RuleSetLoader().load([RuleSource(name: file, text: yaml)]).diagnostics.map(\.description)
}

struct RuleTestError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A snapshot of agents given as (id, online, metrics).
func snapshot(_ agents: [(String, Bool, [String: String])]) -> AgentRegistry.Snapshot {
    AgentRegistry.Snapshot(
        agents: agents.map { Agent(id: $0.0, name: $0.0.uppercased(), isOnline: $0.1, metrics: AgentMetrics($0.2)) })
}

func message(_ json: String) throws -> Message { try Message(decoding: Array(json.utf8)) }

extension RuleSet {
    func decide(_ json: String, _ snapshot: AgentRegistry.Snapshot, seed: UInt64 = 1) throws -> Decision {
        var random = FastRandom(seed: seed)
        return evaluate(try message(json), in: snapshot, random: &random)
    }
}

/// Runs `work` (seconds of CPU, as loading a large rule file in a debug build) on a thread of its
/// own, so it does not hold one of Swift's cooperative threads (two on a 2-core machine) away
/// from the async tests running beside it.
func onThreadOfItsOwn<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}
