import BrokerCore

/// `broker explain --format json`: one object, documented in the README ("explain as JSON");
/// new keys may be added, existing ones keep their meaning (`"version": 1`).
extension Explanation {
    public func json(ruleSet: RuleSet, snapshot: AgentRegistry.Snapshot, message: Message) -> JSONValue {
        var root = JSONObject()
        root["version"] = .number(JSONNumber(1))
        root["rule_set"] = .object(
            JSONObject([("hash", .string(ruleSet.hash)), ("files", .array(ruleSet.files.map(JSONValue.string)))]))
        root["registry"] = .object(
            JSONObject([
                ("agents", .number(JSONNumber(snapshot.count))), ("online", .number(JSONNumber(snapshot.online.count))),
            ]))
        root["message"] = .object(message.body)
        root["steps"] = .array(steps.map(Self.json))
        root["skipped_by_index"] = .array(
            skipped.map { route in
                .object(
                    JSONObject([
                        ("route", .string(route.route)), ("location", .string(route.location.description)),
                        ("failed_test", .string(route.failedTest)),
                    ]))
            })
        root["decision"] = Self.json(decision)
        return .object(root)
    }

    private static func json(_ step: Step) -> JSONValue {
        var object = JSONObject([("route", .string(step.route)), ("location", .string(step.location.description))])
        switch step.result {
        case .notMatched(let failed):
            object["result"] = .string("not_matched")
            object["failed_test"] = .string(failed)
        case .taken: object["result"] = .string("taken")
        case .noAgent: object["result"] = .string("no_agent")
        }
        if let candidates = step.candidates {
            object["selection"] = .string(step.selection ?? "")
            object["candidates"] = .array(candidates.map(JSONValue.string))
            object["candidate_count"] = .number(JSONNumber(step.candidateCount ?? candidates.count))
        }
        return .object(object)
    }

    /// A decision as `explain --format json` (and a recorded decision) shows it; the edited
    /// messages only when `includesMessages`.
    static func json(_ decision: Decision, includesMessages: Bool = true) -> JSONValue {
        var object = JSONObject([("route", decision.route.map(JSONValue.string) ?? .null)])
        switch decision.outcome {
        case .deliver: object["outcome"] = .string("deliver")
        case .broadcast: object["outcome"] = .string("broadcast")
        case .deadLetter(let reason, let queue):
            object["outcome"] = .string("dead_letter")
            object["reason"] = .string(reason)
            object["queue"] = .string(queue)
        case .drop(let reason):
            object["outcome"] = .string("drop")
            object["reason"] = .string(reason)
        case .statusUpdate: object["outcome"] = .string("status_update")
        }
        object["deliveries"] = .array(
            decision.deliveries.map { delivery in
                var entry = JSONObject()
                switch delivery.destination {
                case .queue(let name): entry["queue"] = .string(name)
                case .exchange(let name, let key):
                    entry["exchange"] = .string(name)
                    entry["routing_key"] = .string(key)
                }
                entry["agent_id"] = delivery.agentID.map(JSONValue.string) ?? .null
                if includesMessages { entry["message"] = .object(delivery.message.body) }
                return .object(entry)
            })
        return .object(object)
    }
}
