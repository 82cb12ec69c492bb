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

    /// Buckets of at most this many routes are left as lists (one hash lookup costs about as
    /// much as checking two routes).
    static let leafSize = 2

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
            for path in constraints[route, default: [:]].keys where !used.contains(path) {
                counts[path, default: 0] += 1
            }
        }
        guard
            let (path, constrained) = counts.max(by: {
                $0.value != $1.value ? $0.value < $1.value : $0.key.lexicographicallyPrecedes($1.key)
            }),
            constrained >= 2
        else { return .list(routes) }
        // One pass in rule order: a constrained route joins the buckets of its keys, a route that
        // does not test the field joins every bucket (and the fallback).
        var keys: [ScalarKey] = []
        var buckets: [ScalarKey: [Int32]] = [:]
        var wildcards: [Int32] = []
        for route in routes {
            if let accepted = constraints[route]?[path] {
                for key in accepted {
                    if buckets[key] == nil {
                        keys.append(key)
                        buckets[key] = wildcards
                    }
                    buckets[key]!.append(route)
                }
            } else {
                wildcards.append(route)
                // Splitting copies wildcard routes into every bucket; stop when that costs more than it saves.
                if wildcards.count * max(keys.count, 1) > 4 * routes.count + 64 { return .list(routes) }
                for key in keys { buckets[key]!.append(route) }
            }
        }
        var table: [ScalarKey: RouteIndex] = [:]
        table.reserveCapacity(keys.count)
        let nextUsed = used.union([path])
        for key in keys {
            table[key] = build(routes: buckets[key]!, constraints: constraints, used: nextUsed)
        }
        return .dispatch(
            path: path, table: table, other: build(routes: wildcards, constraints: constraints, used: nextUsed))
    }

    /// The equality constraints a predicate imposes on message fields (top-level conjuncts only).
    static func constraints(of predicate: Predicate) -> Constraints {
        var result: Constraints = [:]
        for conjunct in predicate.conjuncts {
            guard case .test(let check) = conjunct, case .message(let path) = check.subject,
                case .equals(let matcher) = check.test
            else { continue }
            result[path] = result[path].map { $0.intersection(matcher.keys) } ?? matcher.keys
        }
        return result
    }
}
