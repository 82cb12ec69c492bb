import BrokerCore
import Foundation
import RoutingRules
import TestSupport
import Testing

/// The default rules against what the original Python broker published for the same inputs
/// (`shared/data/original-broker-cases.jsonl`, copied into the corpus).
@Suite(.timeLimit(.minutes(10))) struct OriginalBrokerGoldenTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var online: [(String, Bool)]
        var input: String
        var output: String?
        var description: String { name }
    }

    static let cases: [Case] = {
        guard
            let text = try? String(
                contentsOf: corpus.appendingPathComponent("original-broker-cases.jsonl"), encoding: .utf8)
        else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard case .object(let object)? = try? JSONParser.parse(String(line)) else { return nil }
            let registry =
                object["registry_online"]?.objectValue.map { $0.map { ($0.key, $0.value.boolValue ?? false) } } ?? []
            let output: String? = object["original_output"]?.stringValue
            return Case(
                name: object["case"]?.stringValue ?? "?", online: registry, input: object["input"]?.stringValue ?? "",
                output: output)
        }
    }()

    static let ruleSet: RuleSet? = try? RuleSetLoader().load(paths: [
        repositoryRoot.appendingPathComponent("rules/default.yaml").path
    ]).ruleSet

    @Test func allCasesLoaded() {
        #expect(Self.cases.count == 22)
        #expect(Self.ruleSet != nil)
    }

    @Test(arguments: cases)
    func defaultRulesReproduceTheOriginal(_ testCase: Case) throws {
        let ruleSet = try #require(Self.ruleSet)
        let registry = snapshot(testCase.online.map { ($0.0, $0.1, [:]) })
        let message: Message
        do {
            message = try Message(decoding: Array(testCase.input.utf8))
        } catch {
            // The original acked and dropped undecodable input; the daemon dead-letters it.
            #expect(testCase.output == nil, "undecodable input: \(error)")
            return
        }
        let online = testCase.online.filter(\.1).map(\.0)
        for seed in 1...20 {
            var random = FastRandom(seed: UInt64(seed))
            let decision = ruleSet.evaluate(message, in: registry, random: &random)
            guard let original = testCase.output else {
                // Cases the original lost or dropped: never lost here.
                switch testCase.name {
                case let name where name.hasPrefix("f"):
                    guard case .deadLetter(let reason, "broker_dead_letter") = decision.outcome else {
                        Issue.record("\(testCase.name): expected a dead letter, got \(decision)")
                        return
                    }
                    #expect(reason.contains("message_type"))
                default:
                    let delivery = try #require(decision.deliveries.first, "\(testCase.name) must be routed, not lost")
                    #expect(decision.route == "random-online-agent")
                    #expect(online.contains(delivery.agentID ?? "") && delivery.agentID != message.senderID)
                    #expect(delivery.message.body["routing_status"] == "routed")
                }
                continue
            }
            let delivery = try #require(decision.deliveries.first, "\(testCase.name): nothing published")
            #expect(delivery.destination == .queue("server_input_queue"))
            var expected = try Message(decoding: Array(original.utf8))
            if let agent = delivery.agentID {
                // A random choice: any online agent but the sender is what the original could draw.
                #expect(online.contains(agent) && agent != message.senderID, "\(testCase.name): chose \(agent)")
                expected.body["receiver_id"] = .string(agent)
            }
            // Same keys, same order, same values.
            #expect(delivery.message.jsonText == expected.jsonText, "\(testCase.name)")
        }
    }

    @Test func pendingErrorIsMarkedSoItCannotCycle() throws {
        let ruleSet = try #require(Self.ruleSet)
        let decision = try ruleSet.decide(
            #"{"message_type":"ERROR","message_id":"e1","routing_status":"pending"}"#, snapshot([]))
        #expect(decision.route == "error-pending")
        #expect(
            decision.deliveries.first?.message.jsonText
                == #"{"message_type":"ERROR","message_id":"e1","routing_status":"error"}"#)
    }

    @Test func statusUpdatesOnTheQueueUpdateTheRegistry() throws {
        let ruleSet = try #require(Self.ruleSet)
        let decision = try ruleSet.decide(
            #"{"message_type":"AGENT_STATUS_UPDATE","agents":[],"is_full_update":false}"#, snapshot([]))
        #expect(decision.outcome == .statusUpdate)
        #expect(decision.deliveries.isEmpty)
    }
}
