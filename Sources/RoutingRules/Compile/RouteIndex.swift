import BrokerCore

/// Dispatches a message to the few routes that can match it, in rule order.
///
/// Routes that test a message field for equality (`message_type: TEXT`, `sender_id: { in: … }`)
/// are bucketed by that value in a hash table; a bucket holds, in order, the routes that
/// accept the value plus the routes that do not test the field. Large buckets are split again
/// on another field. A message then checks only the routes of its bucket, so the cost of a
/// decision barely grows with the number of routes.
indirect enum RouteIndex: Sendable {
    case list([Int32])
    case dispatch(path: [String], table: [ScalarKey: RouteIndex], other: RouteIndex)

    /// Buckets of at most this many routes are left as lists.
    static let leafSize = 8

    /// The routes to try for `message`, in order.
    func routes(for message: JSONObject) -> [Int32] {
        var node = self
        while true {
            switch node {
            case .list(let routes): return routes
            case .dispatch(let path, let table, let other):
                if let value = message.value(at: path), let key = ScalarKey(value), let bucket = table[key] {
                    node = bucket
                } else {
                    node = other
                }
            }
        }
    }

    /// Equality constraints of each route: field path → accepted keys.
    typealias Constraints = [[String]: Set<ScalarKey>]

    static func build(routes: [Int32], constraints: [Int32: Constraints], used: Set<[String]> = []) -> RouteIndex {
        guard routes.count > leafSize else { return .list(routes) }
        var counts: [[String]: Int] = [:]
        for route in routes {
            for path in constraints[route, default: [:]].keys where !used.contains(path) { counts[path, default: 0] += 1 }
        }
        guard
            let (path, constrained) = counts.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key.lexicographicallyPrecedes($1.key) }),
            constrained >= 2
        else { return .list(routes) }
        var keys: [ScalarKey] = []
        var seen: Set<ScalarKey> = []
        for route in routes {
            for key in constraints[route]?[path] ?? [] where seen.insert(key).inserted { keys.append(key) }
        }
        let wildcards = routes.filter { constraints[$0]?[path] == nil }
        // Splitting copies the wildcard routes into every bucket; stop when that costs more than it saves.
        if wildcards.count * keys.count > 4 * routes.count + 64 { return .list(routes) }
        var table: [ScalarKey: RouteIndex] = [:]
        let nextUsed = used.union([path])
        for key in keys {
            let bucket = routes.filter { constraints[$0]?[path].map { $0.contains(key) } ?? true }
            table[key] = build(routes: bucket, constraints: constraints, used: nextUsed)
        }
        return .dispatch(path: path, table: table, other: build(routes: wildcards, constraints: constraints, used: nextUsed))
    }

    /// The equality constraints a predicate imposes on message fields (top-level conjuncts only).
    static func constraints(of predicate: Predicate) -> Constraints {
        var result: Constraints = [:]
        for conjunct in predicate.conjuncts {
            guard case .test(.message(let path), .equals(let keys), _) = conjunct else { continue }
            result[path] = result[path].map { $0.intersection(keys) } ?? keys
        }
        return result
    }
}
