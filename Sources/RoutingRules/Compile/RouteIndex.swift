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
}

extension RouteIndex {
    /// The index over `routes` (slots in rule order, with their conditions).
    static func build(_ routes: [(slot: Int32, when: Predicate)]) -> RouteIndex {
        let builder = Builder(routes)
        return builder.build(Array(0..<Int32(routes.count)), used: [])
    }

    /// Splits routes on the message fields they test for equality. Field paths are interned
    /// to small integers and routes are numbered densely, so that splitting counts and looks up
    /// in arrays instead of hashing paths.
    private struct Builder {
        /// One route's equality constraint: an interned path and the keys it accepts.
        typealias Constraint = (path: Int, keys: Set<ScalarKey>)

        let slots: [Int32]
        private(set) var paths: [[String]] = []
        /// Per route (by position), sorted by path.
        private(set) var constraints: [[Constraint]] = []

        init(_ routes: [(slot: Int32, when: Predicate)]) {
            slots = routes.map(\.slot)
            var ids: [[String]: Int] = [:]
            constraints.reserveCapacity(routes.count)
            for route in routes {
                var own: [Constraint] = []
                for conjunct in route.when.conjuncts {
                    guard let check = conjunct.check, case .message(let path) = check.subject,
                        case .equals(let matcher) = check.test
                    else { continue }
                    let id: Int
                    if let known = ids[path] {
                        id = known
                    } else {
                        id = paths.count
                        ids[path] = id
                        paths.append(path)
                    }
                    if let at = own.firstIndex(where: { $0.path == id }) {
                        own[at].keys.formIntersection(matcher.keys)
                    } else {
                        own.append((id, matcher.keys))
                    }
                }
                constraints.append(own)
            }
        }

        private func keys(of route: Int32, on path: Int) -> Set<ScalarKey>? {
            for constraint in constraints[Int(route)] where constraint.path == path { return constraint.keys }
            return nil
        }

        /// The index over `routes` (positions, in rule order), not splitting on `used` paths.
        func build(_ routes: [Int32], used: Set<Int>) -> RouteIndex {
            guard routes.count > leafSize else { return .list(routes.map { slots[Int($0)] }) }
            var counts = [Int](repeating: 0, count: paths.count)
            for route in routes {
                for constraint in constraints[Int(route)] where !used.contains(constraint.path) {
                    counts[constraint.path] += 1
                }
            }
            // The field most routes test; ties go to the greatest path, so the index is the same
            // on every run.
            var best: Int?
            for path in counts.indices where counts[path] >= 2 {
                guard let current = best else {
                    best = path
                    continue
                }
                if counts[path] > counts[current]
                    || (counts[path] == counts[current] && paths[current].lexicographicallyPrecedes(paths[path]))
                {
                    best = path
                }
            }
            guard let path = best else { return .list(routes.map { slots[Int($0)] }) }
            // One pass in rule order: a constrained route joins the buckets of its keys, a route
            // that does not test the field joins every bucket (and the fallback).
            var keys: [ScalarKey] = []
            var buckets: [ScalarKey: [Int32]] = [:]
            var wildcards: [Int32] = []
            for route in routes {
                if let accepted = self.keys(of: route, on: path) {
                    for key in accepted {
                        if buckets[key] == nil {
                            keys.append(key)
                            buckets[key] = wildcards
                        }
                        buckets[key]?.append(route)
                    }
                } else {
                    wildcards.append(route)
                    // Splitting copies wildcard routes into every bucket; stop when that costs more
                    // than it saves.
                    if wildcards.count * max(keys.count, 1) > 4 * routes.count + 64 {
                        return .list(routes.map { slots[Int($0)] })
                    }
                    for key in keys { buckets[key]?.append(route) }
                }
            }
            var table: [ScalarKey: RouteIndex] = [:]
            table.reserveCapacity(keys.count)
            let nextUsed = used.union([path])
            for key in keys {
                table[key] = build(buckets[key] ?? [], used: nextUsed)
            }
            return .dispatch(path: paths[path], table: table, other: build(wildcards, used: nextUsed))
        }
    }
}
