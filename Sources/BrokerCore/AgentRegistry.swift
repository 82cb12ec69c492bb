import Foundation
import Synchronization

/// The live list of agents, read through immutable snapshots.
///
/// Writers (the status feed) serialise on a mutex and publish a new ``Snapshot``; readers take
/// the current snapshot once and evaluate against it without any further synchronisation.
/// Update semantics follow the agent server: a full update replaces the list (agents missing
/// from it are kept but marked offline); a partial update merges the agents it names.
public final class AgentRegistry: Sendable {
    private let current: Mutex<Snapshot>
    /// Whether the registry holds the current server's agent list (shared with every snapshot).
    public let sync: RegistrySync

    /// Creates an empty, unsynced registry that indexes online agents by the given metric keys;
    /// its sync states are dated by `clock`.
    public init(indexedMetrics: Set<String> = [], clock: any WallClock = SystemWallClock()) {
        let sync = RegistrySync(clock: clock)
        self.sync = sync
        current = Mutex(Snapshot(indexedMetricKeys: indexedMetrics, sync: sync))
    }

    /// The current snapshot.
    public var snapshot: Snapshot { current.withLock { $0 } }

    /// Applies a status update and returns the snapshot it produced.
    @discardableResult
    public func apply(_ update: AgentStatusUpdate, now: Date = Date()) -> Snapshot {
        current.withLock { snapshot in
            snapshot = snapshot.applying(update, now: now)
            return snapshot
        }
    }

    /// Replaces the whole registry with the agents of `update` (a full list from a new server
    /// registration): agents it does not name are forgotten, not kept offline, because a server
    /// that restarted no longer knows them.
    @discardableResult
    public func replaceAll(with update: AgentStatusUpdate, now: Date = Date()) -> Snapshot {
        current.withLock { snapshot in
            snapshot = snapshot.replacingAll(with: update, now: now)
            return snapshot
        }
    }

    /// Makes the snapshot index online agents by `keys` (the metric keys rules test for
    /// equality), rebuilding the index when the set changes.
    @discardableResult
    public func indexMetrics(_ keys: Set<String>) -> Snapshot {
        current.withLock { snapshot in
            if snapshot.indexedMetricKeys != keys { snapshot = snapshot.reindexed(keys) }
            return snapshot
        }
    }
}

extension AgentRegistry {
    /// One immutable state of the registry.
    public final class Snapshot: Sendable {
        @usableFromInline let storage: AgentStorage
        private let slotsByID: [String: Int32]
        /// Every known agent, online or not.
        public let all: CandidateSet
        /// The agents currently online.
        public let online: CandidateSet
        /// Online agents by metric key and value, for the indexed keys.
        private let metricIndex: [String: [String: CandidateSet]]
        /// The metric keys this snapshot indexes.
        public let indexedMetricKeys: Set<String>
        /// Increases with every update.
        public let version: UInt64
        /// When the last full update was applied (`nil` before the first one).
        public let lastFullUpdate: Date?
        /// When the last update of any kind was applied.
        public let lastUpdate: Date?
        /// Whether the registry is synced (live, shared by all snapshots of one registry).
        public let sync: RegistrySync

        init(indexedMetricKeys: Set<String>, sync: RegistrySync) {
            self.sync = sync
            self.storage = AgentStorage()
            self.slotsByID = [:]
            self.all = CandidateSet()
            self.online = CandidateSet()
            self.metricIndex = Dictionary(uniqueKeysWithValues: indexedMetricKeys.map { ($0, [:]) })
            self.indexedMetricKeys = indexedMetricKeys
            self.version = 0
            self.lastFullUpdate = nil
            self.lastUpdate = nil
        }

        private init(
            storage: AgentStorage, slotsByID: [String: Int32], all: CandidateSet, online: CandidateSet,
            metricIndex: [String: [String: CandidateSet]], indexedMetricKeys: Set<String>, version: UInt64,
            lastFullUpdate: Date?, lastUpdate: Date?, sync: RegistrySync
        ) {
            self.sync = sync
            self.storage = storage
            self.slotsByID = slotsByID
            self.all = all
            self.online = online
            self.metricIndex = metricIndex
            self.indexedMetricKeys = indexedMetricKeys
            self.version = version
            self.lastFullUpdate = lastFullUpdate
            self.lastUpdate = lastUpdate
        }

        /// Builds a snapshot holding exactly `agents` (later duplicates of an id win).
        public convenience init(agents: [Agent], indexedMetricKeys: Set<String> = []) {
            let unique = Self.unique(agents)
            let sync = RegistrySync()
            sync.markSynced()
            self.init(
                rebuilding: unique, indexedMetricKeys: indexedMetricKeys, version: 1, full: nil, update: nil,
                sync: sync)
        }

        private convenience init(
            rebuilding agents: [Agent], indexedMetricKeys: Set<String>, version: UInt64, full: Date?, update: Date?,
            sync: RegistrySync
        ) {
            let storage = AgentStorage(agents)
            var slotsByID: [String: Int32] = [:]
            slotsByID.reserveCapacity(agents.count)
            for (slot, agent) in agents.enumerated() { slotsByID[agent.id] = Int32(slot) }
            let sorted = (0..<Int32(agents.count)).sorted { agents[Int($0)].id < agents[Int($1)].id }
            let online = sorted.filter { agents[Int($0)].isOnline }
            var index: [String: [String: CandidateSet]] = [:]
            for key in indexedMetricKeys {
                var buckets: [String: [Int32]] = [:]
                for slot in online {
                    if let value = agents[Int(slot)].metrics[key] { buckets[value, default: []].append(slot) }
                }
                index[key] = buckets.mapValues { CandidateSet(slots: $0) }
            }
            self.init(
                storage: storage, slotsByID: slotsByID, all: CandidateSet(slots: sorted),
                online: CandidateSet(slots: online), metricIndex: index, indexedMetricKeys: indexedMetricKeys,
                version: version, lastFullUpdate: full, lastUpdate: update, sync: sync)
        }

        /// The number of known agents.
        public var count: Int { storage.count }

        /// The agent in `slot`.
        @inlinable public func agent(at slot: Int32) -> Agent { storage[slot] }

        /// The agent with `id`, if known.
        public func agent(id: String) -> Agent? { slotsByID[id].map { storage[$0] } }

        /// The slot of the agent with `id`, if known.
        public func slot(of id: String) -> Int32? { slotsByID[id] }

        /// The id of the agent in `slot`.
        @inlinable public func agentID(at slot: Int32) -> String { storage.id(slot) }

        /// Whether the agent in `slot` is online (read without copying the agent).
        @inlinable public func isOnline(at slot: Int32) -> Bool { storage.withAgent(slot) { $0.isOnline } }

        /// The metric `key` of the agent in `slot`.
        @inlinable public func metric(_ key: String, at slot: Int32) -> AgentMetrics.Entry? {
            storage.withAgent(slot) { $0.metrics.entry(key) }
        }

        /// ``Agent/idHash`` of the agent in `slot`.
        @inlinable public func idHash(at slot: Int32) -> UInt64 { storage.withAgent(slot) { $0.idHash } }

        /// The position of the agent `id` inside `set` (binary search).
        public func position(of id: String, in set: CandidateSet) -> Int? {
            set.position(of: id, in: storage)
        }

        /// Online agents whose metric `key` equals `value`, or `nil` when `key` is not indexed.
        public func onlineAgents(metric key: String, equals value: String) -> CandidateSet? {
            guard let buckets = metricIndex[key] else { return nil }
            return buckets[value] ?? CandidateSet()
        }

        /// All agents, in id order.
        public var agents: [Agent] { all.map { storage[$0] } }

        /// The agents at `positions` of the id order (a page of ``agents``).
        public func agents(in positions: Range<Int>) -> [Agent] {
            all[positions.clamped(to: all.startIndex..<all.endIndex)].map { storage[$0] }
        }

        func reindexed(_ keys: Set<String>) -> Snapshot {
            Snapshot(
                rebuilding: (0..<Int32(storage.count)).map { storage[$0] }, indexedMetricKeys: keys,
                version: version + 1, full: lastFullUpdate, update: lastUpdate, sync: sync)
        }

        func applying(_ update: AgentStatusUpdate, now: Date) -> Snapshot {
            update.isFullUpdate ? applyingFull(update, now: now) : applyingPartial(update, now: now)
        }

        /// `agents` with one entry per id, in first-seen order (a later duplicate wins).
        private static func unique(_ agents: [Agent]) -> [Agent] {
            var unique: [Agent] = []
            var positions: [String: Int] = [:]
            for agent in agents {
                if let position = positions[agent.id] {
                    unique[position] = agent
                } else {
                    positions[agent.id] = unique.count
                    unique.append(agent)
                }
            }
            return unique
        }

        func replacingAll(with update: AgentStatusUpdate, now: Date) -> Snapshot {
            Snapshot(
                rebuilding: Self.unique(update.agents.map { Agent($0, now: now) }),
                indexedMetricKeys: indexedMetricKeys, version: version + 1, full: now,
                update: now, sync: sync)
        }

        private func applyingFull(_ update: AgentStatusUpdate, now: Date) -> Snapshot {
            var agents = (0..<Int32(storage.count)).map { slot -> Agent in
                var agent = storage[slot]
                agent.isOnline = false
                return agent
            }
            var slots = slotsByID
            for record in update.agents {
                let agent = Agent(record, now: now)
                if let slot = slots[agent.id] {
                    agents[Int(slot)] = agent
                } else {
                    slots[agent.id] = Int32(agents.count)
                    agents.append(agent)
                }
            }
            return Snapshot(
                rebuilding: agents, indexedMetricKeys: indexedMetricKeys, version: version + 1, full: now,
                update: now, sync: sync)
        }

        private func applyingPartial(_ update: AgentStatusUpdate, now: Date) -> Snapshot {
            var storage = self.storage
            var slotsByID = self.slotsByID
            var all = self.all
            var online = self.online
            var index = metricIndex
            for record in update.agents {
                let agent = Agent(record, now: now)
                if let slot = slotsByID[agent.id] {
                    let old = storage[slot]
                    storage.replace(slot: slot, with: agent)
                    if old.isOnline != agent.isOnline {
                        if agent.isOnline { online.insert(slot, in: storage) } else { online.remove(slot, in: storage) }
                    }
                    for key in indexedMetricKeys {
                        let before = old.isOnline ? old.metrics[key] : nil
                        let after = agent.isOnline ? agent.metrics[key] : nil
                        guard before != after else { continue }
                        if let before { index[key]![before]?.remove(slot, in: storage) }
                        if let after { index[key]![after, default: CandidateSet()].insert(slot, in: storage) }
                    }
                } else {
                    let slot = storage.append(agent)
                    slotsByID[agent.id] = slot
                    all.insert(slot, in: storage)
                    guard agent.isOnline else { continue }
                    online.insert(slot, in: storage)
                    for key in indexedMetricKeys {
                        if let value = agent.metrics[key] {
                            index[key]![value, default: CandidateSet()].insert(slot, in: storage)
                        }
                    }
                }
            }
            return Snapshot(
                storage: storage, slotsByID: slotsByID, all: all, online: online, metricIndex: index,
                indexedMetricKeys: indexedMetricKeys, version: version + 1, lastFullUpdate: lastFullUpdate,
                lastUpdate: now, sync: sync)
        }
    }
}
