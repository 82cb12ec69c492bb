import BrokerCore
import BrokerDaemon
import Foundation
import InMemoryTransport
import RoutingRules
import TestSupport
import Testing

/// What the daemon records for `broker diff-rules`: `/decisions?format=jsonl` and `--record`.
@Suite(.serialized, .timeLimit(.minutes(10))) struct RecordingTests {
    @Test func theRecordFileIsBoundedAndEveryLineReplaysItsDecision() async throws {
        let file = temporaryPath("record.jsonl")
        defer {
            try? FileManager.default.removeItem(at: file)
            try? FileManager.default.removeItem(atPath: file.path + ".1")
        }
        var ruleSet: RuleSet?
        var registry: AgentRegistry.Snapshot?
        var published = 0
        try await withMemoryDaemon(adjust: { $0.record = (file.path, 16 << 10) }) { daemon, queues, _ in
            for i in 0..<400 {
                queues.enqueue(
                    Array(#"{"message_type":"TEXT","message_id":"r\#(i)","sender_id":"agent_ed38e8b1"}"#.utf8),
                    to: "broker_input_queue")
            }
            try await eventually("all are settled", timeout: .seconds(60)) { daemon.router.statistics.settled >= 400 }
            ruleSet = daemon.reloader.holder.current
            registry = daemon.registry.snapshot
            published = queues.contents(of: "server_input_queue").count
        }
        let current = try Data(contentsOf: file)
        let previous = try Data(contentsOf: URL(fileURLWithPath: file.path + ".1"))
        #expect(current.count <= 16 << 10 && previous.count <= 16 << 10 && previous.count > 8 << 10)
        let rules = try #require(ruleSet)
        let snapshot = try #require(registry)
        var lines = 0
        for line in (String(decoding: previous, as: UTF8.self) + String(decoding: current, as: UTF8.self))
            .split(separator: "\n")
        {
            let record = try DecisionRecord(line: Array(line.utf8), fallbackSeed: 0)
            var random = FastRandom(seed: record.seed)
            let decision = rules.evaluate(try #require(record.message), in: snapshot, random: &random)
            let recorded = try JSONParser.parse(String(line)).objectValue?["decision"]?.objectValue
            #expect(recorded?["route"] == "stamp-one")
            let agent = decision.deliveries.first?.agentID
            #expect(recorded?["deliveries"]?.arrayFirst?["agent_id"]?.stringValue == agent, "the seed replays the pick")
            lines += 1
        }
        #expect(lines >= 20 && lines < 400, "older lines went with the rotation: \(lines)")
        #expect(published == 400)
    }

    @Test func decisionsAsJSONLinesCarryMessagesOnlyWhenTracesAreShown() async throws {
        for traces in [true, false] {
            try await withMemoryDaemon(adjust: { $0.admin.showsDecisionTraces = traces }) { daemon, queues, base in
                for i in 0..<5 {
                    queues.enqueue(
                        Array(#"{"message_type":"TEXT","message_id":"j\#(i)","text_payload":"secret"}"#.utf8),
                        to: "broker_input_queue")
                }
                try await eventually("all are settled", timeout: .seconds(60)) {
                    daemon.router.statistics.settled >= 5
                }
                let (status, body) = try await request("GET", base + "/decisions?format=jsonl")
                #expect(status == 200)
                let lines = body.split(separator: "\n")
                #expect(lines.count == 5)
                let first = try JSONParser.parse(String(lines[0])).objectValue
                #expect(first?["version"] == 1 && first?["decision"] != nil)
                #expect(body.contains("secret") == traces, "message contents only with traces")
                if traces { #expect(first?["message"]?.objectValue?["message_id"] != nil) }
            }
        }
    }
}

extension JSONValue {
    /// The first element's object, for an array of objects.
    var arrayFirst: JSONObject? {
        if case .array(let items) = self { return items.first?.objectValue }
        return nil
    }
}
