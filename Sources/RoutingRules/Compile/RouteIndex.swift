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
    case dispatch(Dispatch)

    /// Buckets of at most this many routes are left as lists (one hash lookup costs about as
    /// much as checking two routes).
    static let leafSize = 2

    /// The routes to try for `message`, in order.
    func routes(for message: JSONObject) -> [Int32] {
        // Recursion on a borrowed `self` (a loop would copy each node it steps to).
        switch self {
        case .list(let routes): return routes
        case .dispatch(let dispatch):
            guard let value = message.value(at: dispatch.path), let key = ScalarKey(value) else {
                return dispatch.other.routes(for: message)
            }
            return dispatch.target(for: key).routes(for: message)
        }
    }

    /// One split: the field it reads, and where each of its values leads.
    final class Dispatch: Sendable {
        let path: [String]
        /// Where each value leads, for many values (empty when `few` is used).
        let table: [ScalarKey: RouteIndex]
        /// The same for a few values, searched in order (cheaper than hashing the value).
        let few: [(key: ScalarKey, target: RouteIndex)]?
        /// Where other values (and an absent field) lead.
        let other: RouteIndex

        /// Values up to this many are searched rather than hashed.
        static let searched = 8

        init(path: [String], targets: [(key: ScalarKey, target: RouteIndex)], other: RouteIndex) {
            self.path = path
            let searched = targets.count <= Self.searched
            self.table = searched ? [:] : Dictionary(targets, uniquingKeysWith: { first, _ in first })
            self.few = searched ? targets : nil
            self.other = other
        }

        func target(for key: ScalarKey) -> RouteIndex {
            if let few {
                for entry in few where entry.key == key { return entry.target }
                return other
            }
            return table[key] ?? other
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
                route.when.forEachConjunct { conjunct in
                    guard let check = conjunct.check, case .message(let path) = check.subject,
                        case .equals(let matcher) = check.test
                    else { return }
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
            let nextUsed = used.union([path])
            let targets = keys.map { ($0, build(buckets[$0] ?? [], used: nextUsed)) }
            return .dispatch(Dispatch(path: paths[path], targets: targets, other: build(wildcards, used: nextUsed)))
        }
    }
}
