/// Pass 4, *shadowing*: warns about top-level routes that can never be reached in order
/// because an earlier route has the same `when`, or takes every message.
enum ShadowingCheck {
    static func run(_ table: RouteTable, sink: inout DiagnosticSink) {
        var seen: [String: Int] = [:]
        var catchAll: Int?
        for slot in table.topLevel {
            let route = table.entries[slot]
            if let catchAll {
                let earlier = table.entries[catchAll]
                sink.warning(
                    route.name.location,
                    "route '\(route.name.value)' can never match: route '\(earlier.name.value)' at \(earlier.syntax.location) matches every message first"
                )
                continue
            }
            let key = route.syntax.when.map(ConditionText.of) ?? ""
            if let first = seen[key] {
                let earlier = table.entries[first]
                sink.warning(
                    route.name.location,
                    "route '\(route.name.value)' can never match: route '\(earlier.name.value)' at \(earlier.syntax.location) has the same 'when' and comes first"
                )
            } else {
                seen[key] = slot
            }
            if route.syntax.when == nil { catchAll = slot }
        }
    }
}
