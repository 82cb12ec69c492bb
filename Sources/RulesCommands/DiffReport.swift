import BrokerCore
import RoutingRules

/// `broker diff-rules`'s report in its three formats. The JSON shape is documented in the
/// README ("diff-rules as JSON", `"version": 1`); new keys may be added.
struct DiffReport {
    var diff: RuleDiff
    var old: RuleSet
    var new: RuleSet
    var lines: Int

    static func route(_ name: String?) -> String { name ?? "(no route)" }

    static func describe(_ summary: RuleDiff.Summary) -> String {
        var text = "\(route(summary.route)): \(summary.action)"
        if !summary.receivers.isEmpty { text += " to " + summary.receivers.joined(separator: ", ") }
        if !summary.outputs.isEmpty { text += " via " + summary.outputs.joined(separator: ", ") }
        if summary.routingStatus.contains(where: { $0 != "-" }) {
            text += " (routing_status " + summary.routingStatus.joined(separator: ", ") + ")"
        }
        return text
    }

    /// "2 not a JSON object, 1 no message recorded".
    private var skippedList: String {
        diff.skipped.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }

    private var skippedText: String { diff.skipped.isEmpty ? "" : " (lines skipped: \(skippedList))" }

    var text: String {
        var out = [
            "diff-rules: \(diff.compared) messages compared\(skippedText); \(diff.changed) decided differently"
                + " (\(Self.percent(diff.changedPercent)))"
        ]
        if diff.changed > 0 {
            out.append(
                "  by field: "
                    + RuleDiff.Field.allCases.map { "\($0.rawValue) \(diff.changedByField[$0] ?? 0)" }.joined(
                        separator: ", "))
        }
        for group in diff.groups {
            let change = group.change
            out.append(
                "  \(Self.route(change.oldRoute)) → \(Self.route(change.newRoute))"
                    + " [\(change.fields.map(\.rawValue).joined(separator: ", "))]: \(group.count)")
            for example in group.examples {
                let id = example.message[string: MessageKey.messageID].map { " \($0)" } ?? ""
                out.append(
                    "      line \(example.line)\(id): \(Self.describe(example.old))  ⇒  \(Self.describe(example.new))")
            }
        }
        return out.joined(separator: "\n")
    }

    var markdown: String {
        var out = [
            "### Routing change: `\(old.hash.prefix(12))` → `\(new.hash.prefix(12))`", "",
            diff.changed == 0
                ? "**No message of \(diff.compared) is decided differently.**"
                : "**\(diff.changed) of \(diff.compared) messages (\(Self.percent(diff.changedPercent))) are decided differently.**",
        ]
        if !diff.skipped.isEmpty { out += ["", "Lines skipped: \(skippedList)."] }
        guard diff.changed > 0 else { return out.joined(separator: "\n") + "\n" }
        out += ["", "| old route | new route | what changed | messages | share |", "| --- | --- | --- | ---: | ---: |"]
        for group in diff.groups {
            let share = Self.percent(Double(group.count) * 100 / Double(max(1, diff.compared)))
            out.append(
                "| \(Self.cell(Self.route(group.change.oldRoute))) | \(Self.cell(Self.route(group.change.newRoute))) | "
                    + "\(group.change.fields.map(\.rawValue).joined(separator: ", ")) | \(group.count) | \(share) |")
        }
        out += ["", "<details><summary>Examples</summary>", ""]
        for group in diff.groups {
            out.append(
                "**\(Self.cell(Self.route(group.change.oldRoute))) → \(Self.cell(Self.route(group.change.newRoute)))**")
            out.append("")
            for example in group.examples {
                out.append(
                    "- line \(example.line): \(Self.cell(Self.describe(example.old))) ⇒ \(Self.cell(Self.describe(example.new)))"
                )
                out.append("  `\(Self.cell(example.message.jsonText))`")
            }
            out.append("")
        }
        out.append("</details>")
        return out.joined(separator: "\n") + "\n"
    }

    var json: JSONValue {
        func summary(_ s: RuleDiff.Summary) -> JSONValue {
            .object(
                JSONObject([
                    ("route", s.route.map(JSONValue.string) ?? .null), ("action", .string(s.action)),
                    ("receivers", .array(s.receivers.map(JSONValue.string))),
                    ("outputs", .array(s.outputs.map(JSONValue.string))),
                    ("routing_status", .array(s.routingStatus.map(JSONValue.string))),
                ]))
        }
        func ruleSet(_ r: RuleSet) -> JSONValue {
            .object(JSONObject([("hash", .string(r.hash)), ("files", .array(r.files.map(JSONValue.string)))]))
        }
        let groups = diff.groups.map { group -> JSONValue in
            .object(
                JSONObject([
                    ("old_route", group.change.oldRoute.map(JSONValue.string) ?? .null),
                    ("new_route", group.change.newRoute.map(JSONValue.string) ?? .null),
                    ("fields", .array(group.change.fields.map { .string($0.rawValue) })),
                    ("count", .number(JSONNumber(group.count))),
                    (
                        "examples",
                        .array(
                            group.examples.map { example in
                                .object(
                                    JSONObject([
                                        ("line", .number(JSONNumber(example.line))),
                                        ("message", .object(example.message.body)),
                                        ("old", summary(example.old)), ("new", summary(example.new)),
                                    ]))
                            })
                    ),
                ]))
        }
        return .object(
            JSONObject([
                ("version", .number(JSONNumber(1))), ("old", ruleSet(old)), ("new", ruleSet(new)),
                ("lines", .number(JSONNumber(lines))), ("compared", .number(JSONNumber(diff.compared))),
                ("changed", .number(JSONNumber(diff.changed))),
                ("changed_percent", .number(JSONNumber((diff.changedPercent * 1000).rounded() / 1000))),
                (
                    "skipped",
                    .object(
                        JSONObject(
                            diff.skipped.sorted { $0.key < $1.key }.map { ($0.key, .number(JSONNumber($0.value))) }))
                ),
                (
                    "by_field",
                    .object(
                        JSONObject(
                            RuleDiff.Field.allCases.map {
                                ($0.rawValue, .number(JSONNumber(diff.changedByField[$0] ?? 0)))
                            }))
                ),
                ("groups", .array(groups)),
            ]))
    }

    static func percent(_ value: Double) -> String {
        value == 0 ? "0%" : value < 0.1 ? "<0.1%" : String(format: "%.1f%%", value)
    }

    /// Text for a Markdown table cell or inline code: no pipes or backticks to break it.
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "`", with: "'")
    }
}
