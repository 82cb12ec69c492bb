import ArgumentParser
import BrokerCLISupport
import BrokerCore
import Foundation
import RoutingRules

/// `broker explain`: why a message goes where it goes.
public struct Explain: ParsableCommand {
    public static let configuration = CommandConfiguration(
        abstract: "Show how the rules decide for one message: routes tried, candidates, choice, result.",
        discussion: """
            The registry file is YAML or JSON: {agents: [{agent_id, agent_name, is_online, \
            last_seen, metrics}]}, the shape of the server's AgentStatusResponse.
            """
    )

    @Option(help: "Rule file or directory.")
    var rules: String = "rules"

    @Option(help: "Registry snapshot file (YAML or JSON).")
    var registry: String

    @Option(help: "Seed for random choices, to reproduce a decision.")
    var seed: UInt64?

    @Option(help: "Largest message accepted, in bytes.")
    var maxMessageSize: Int = Message.defaultMaximumSize

    @Option(help: "Output format: text, or json (the shape the README documents).")
    var format: ExplainFormat = .text

    @Flag(help: "Also list every route the index skipped, with the test this message fails.")
    var all = false

    @Argument(help: "The message: inline JSON ({...}), a JSON file, or - for standard input.")
    var message: String = "-"

    public init() {}

    public func run() throws {
        let ruleSet = try loadRuleSet(rules)
        let snapshot = try loadRegistry(registry)
        let bytes: [UInt8]
        if message == "-" {
            bytes = [UInt8](FileHandle.standardInput.readData(ofLength: maxMessageSize + 1))
        } else if message.hasPrefix("{") {
            bytes = Array(message.utf8)
        } else if let data = readFile(message) {
            bytes = [UInt8](data)
        } else {
            printError("error: \(message): cannot read file")
            throw ExitCode(Status.usage)
        }
        let decoded: Message
        do {
            decoded = try Message(decoding: bytes, maximumSize: maxMessageSize)
        } catch {
            let source = message == "-" ? "standard input" : message.hasPrefix("{") ? "the inline message" : message
            printError("error: \(source): \(error)")
            if format == .json {
                let decision = JSONObject([
                    ("route", .null), ("outcome", .string("dead_letter")), ("reason", .string(error.reasonCode)),
                    ("queue", .string(ruleSet.deadLetterQueue)), ("deliveries", .array([])),
                ])
                print(
                    JSONWriter.string(
                        .object(
                            JSONObject([
                                ("version", .number(JSONNumber(1))), ("error", .string("\(error)")),
                                ("decision", .object(decision)),
                            ]))))
                throw ExitCode(Status.failed)
            }
            print(
                "decision: dead-letter to \(ruleSet.deadLetterQueue): \(error.reasonCode) (the daemon never shows such a message to the rules)"
            )
            throw ExitCode(Status.failed)
        }
        var random = seed.map(FastRandom.init(seed:)) ?? FastRandom()
        let explanation = ruleSet.explain(decoded, in: snapshot, random: &random)
        if format == .json {
            print(JSONWriter.string(explanation.json(ruleSet: ruleSet, snapshot: snapshot, message: decoded)))
            return
        }
        print("rule set \(ruleSet.hash.prefix(12)) (\(ruleSet.files.joined(separator: ", ")))")
        print("registry: \(snapshot.count) agents, \(snapshot.online.count) online")
        print("message: \(decoded.jsonText)")
        print(explanation.render(all: all))
    }
}

enum ExplainFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
