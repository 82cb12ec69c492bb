import BrokerCore
import Foundation
import PropertyBased
import Testing

@testable import RoutingRules

extension GeneratedInputs {
    /// The route index against a plain scan of the same compiled routes: for random rule sets,
    /// messages and registries, the indexed evaluation decides exactly what trying every top-level
    /// route in order decides (same route, same outcome, same random choices).
    @Suite(.timeLimit(.minutes(10))) struct IndexDifferentialTests {
        static let types = ["TEXT", "REPLY", "ERROR", "SYSTEM", "T4", "T5"]
        static let senders = ["agent_0", "agent_1", "agent_2", "agent_3", "web_1", "bob"]

        /// One condition on a message, sender or receiver, chosen by `n`.
        static func condition(_ n: Int) -> String {
            let type = types[n % types.count]
            let other = types[(n / 7) % types.count]
            let sender = senders[(n / 3) % senders.count]
            switch (n / 11) % 15 {
            case 0: return "message.message_type: \(type)"
            case 1: return "message.message_type: { in: [\(type), \(other)] }"
            case 2: return "message.sender_id: \(sender)"
            case 3: return "message.priority: { gt: \(n % 5) }"
            case 4: return "sender.online: \(n % 2 == 0)"
            case 5: return "receiver.known: \(n % 2 == 0)"
            case 6: return "message.text_payload: { contains: \"x\(n % 3)\" }"
            case 7: return "message.routing_status: { ne: error }"
            case 8: return "message.meta.kind: k\(n % 3)"
            case 9: return "message.priority: { in: [\(n % 4), \"\(n % 3)\"] }"
            case 10: return "message.flag: \(n % 2 == 0)"
            case 11: return "receiver.online: \(n % 2 == 0)"
            case 12: return "sender.known: \(n % 2 == 0)"
            case 13: return "message.meta.kind: { ne: k\(n % 3) }"
            default: return "message.message_type: { not_in: [\(type)] }"
            }
        }

        /// A rule set of `count` routes whose conditions and actions come from `seeds`.
        static func ruleSet(_ seeds: [Int], specialised: Bool = true) throws -> RuleSet {
            var text = "version: 1\nroutes:\n"
            for (i, seed) in seeds.enumerated() {
                var lines: [String] = []
                var used: Set<String> = []
                for k in 0..<(1 + seed % 3) {
                    let line = condition(seed / (1 + k * 13) + k * 17)
                    let subject = String(line.prefix { $0 != ":" })
                    if used.insert(subject).inserted { lines.append("      " + line) }
                }
                text += "  - name: r\(i)\n    when:\n" + lines.joined(separator: "\n") + "\n"
                switch seed % 4 {
                case 0: text += "    select: { agents: { online: true }, exclude: [sender], strategy: random }\n"
                case 1: text += "    dead_letter: \"r\(i)\"\n"
                default: text += "    set: { routing_status: r\(i) }\n    deliver: as_is\n"
                }
            }
            var loader = RuleSetLoader()
            loader.specialisesPredicates = specialised
            let result = loader.load([RuleSource(name: "random.yaml", text: text)])
            guard let ruleSet = result.ruleSet else {
                throw RuleTestError(message: "\(result.errors.map(\.description))\n\(text)")
            }
            return ruleSet
        }

        static func message(_ n: Int) -> Message {
            var fields: [(String, JSONValue)] = [("message_id", .string("m\(n)"))]
            if n % 9 != 0 { fields.append(("message_type", .string(types[n % types.count]))) }
            fields.append(("sender_id", .string(senders[(n / 5) % senders.count])))
            if n % 4 != 0 { fields.append(("receiver_id", .string(senders[(n / 2) % senders.count]))) }
            fields.append(("priority", .number(JSONNumber(n % 6))))
            fields.append(("text_payload", .string("x\(n % 4)")))
            if n % 7 == 0 { fields.append(("routing_status", .string("error"))) }
            if n % 3 != 0 { fields.append(("flag", n % 5 == 0 ? .string("true") : .bool(n % 2 == 0))) }
            if n % 5 != 0 { fields.append(("meta", .object(JSONObject([("kind", .string("k\(n % 4)"))])))) }
            return Message(JSONObject(fields))
        }

        /// The seeds of `count` generated routes.
        static func seeds(_ count: Int, salt: Int) -> [Int] {
            (0..<count).map { ($0 &* 2_654_435_761 &+ salt) & 0xFFFFF }
        }

        /// Four agents, the first `online` of them online.
        static func registry(online: Int) -> AgentRegistry.Snapshot {
            AgentRegistry.Snapshot(
                agents: (0..<4).map { Agent(id: "agent_\($0)", name: "A\($0)", isOnline: $0 < online) })
        }

        @Test func theIndexDecidesWhatAScanOfEveryRouteDecides() async {
            await propertyCheck(
                count: 150, input: Gen.int(in: 1...40), Gen.int(in: 0...1_000_000), Gen.int(in: 0...4)
            ) { routeCount, salt, online in
                // Lets the async tests running beside this one have a cooperative thread.
                await Task.yield()
                let seeds = Self.seeds(routeCount, salt: salt)
                let rules: RuleSet
                do {
                    rules = try Self.ruleSet(seeds)
                } catch {
                    Issue.record("a generated rule set does not load: \(error)")
                    return
                }
                let registry = Self.registry(online: online)
                for n in 0..<60 {
                    let message = Self.message(salt &+ n)
                    var r1 = FastRandom(seed: UInt64(n))
                    var r2 = FastRandom(seed: UInt64(n))
                    let indexed = rules.evaluate(message, in: registry, random: &r1)
                    let scanned = rules.evaluateWithoutIndex(message, in: registry, random: &r2)
                    #expect(
                        indexed == scanned,
                        "routes \(seeds), message \(message.jsonText): index \(indexed), scan \(scanned)")
                }
            }
        }

        /// The dedicated leaves (equality on one field, `known`/`online` of sender or receiver)
        /// against the general checks they replace: same decisions, same explanations.
        @Test func dedicatedLeavesDecideAndExplainAsTheGeneralChecksDo() async {
            await propertyCheck(
                count: 150, input: Gen.int(in: 1...30), Gen.int(in: 0...1_000_000), Gen.int(in: 0...4)
            ) { routeCount, salt, online in
                // Lets the async tests running beside this one have a cooperative thread.
                await Task.yield()
                let seeds = Self.seeds(routeCount, salt: salt)
                let specialised: RuleSet
                let general: RuleSet
                do {
                    specialised = try Self.ruleSet(seeds)
                    general = try Self.ruleSet(seeds, specialised: false)
                } catch {
                    Issue.record("a generated rule set does not load: \(error)")
                    return
                }
                let registry = Self.registry(online: online)
                for n in 0..<60 {
                    let message = Self.message(salt &+ n)
                    var r1 = FastRandom(seed: UInt64(n))
                    var r2 = FastRandom(seed: UInt64(n))
                    let fast = specialised.explain(message, in: registry, random: &r1).render()
                    let slow = general.explain(message, in: registry, random: &r2).render()
                    #expect(fast == slow, "routes \(seeds), message \(message.jsonText)")
                }
            }
        }
    }
}
