/// The agents of a registry snapshot, addressed by a stable slot number.
///
/// A persistent array: agents live in fixed-size chunks shared between snapshots, so changing
/// one agent copies one chunk and the chunk table, not every agent. Agents are never removed
/// (an agent that leaves is marked offline), so slots stay valid for the registry's lifetime.
@usableFromInline
struct AgentStorage: Sendable {
    @usableFromInline static let chunkShift = 6
    @usableFromInline static let chunkSize = 1 << chunkShift

    @usableFromInline
    final class Chunk: Sendable {
        @usableFromInline let agents: [Agent]
        init(_ agents: [Agent]) { self.agents = agents }
    }

    @usableFromInline private(set) var chunks: [Chunk] = []
    private(set) var count = 0

    init() {}

    init(_ agents: [Agent]) {
        var start = 0
        chunks.reserveCapacity(agents.count / Self.chunkSize + 1)
        while start < agents.count {
            let end = min(start + Self.chunkSize, agents.count)
            chunks.append(Chunk(Array(agents[start..<end])))
            start = end
        }
        count = agents.count
    }

    @inlinable @inline(__always)
    subscript(slot: Int32) -> Agent {
        chunks[Int(slot) >> Self.chunkShift].agents[Int(slot) & (Self.chunkSize - 1)]
    }

    /// The id of the agent in `slot`, read without copying the agent.
    @inlinable @inline(__always)
    func id(_ slot: Int32) -> String {
        chunks[Int(slot) >> Self.chunkShift].agents[Int(slot) & (Self.chunkSize - 1)].id
    }

    @inlinable @inline(__always)
    func withAgent<T>(_ slot: Int32, _ body: (borrowing Agent) -> T) -> T {
        body(chunks[Int(slot) >> Self.chunkShift].agents[Int(slot) & (Self.chunkSize - 1)])
    }

    mutating func replace(slot: Int32, with agent: Agent) {
        let chunkIndex = Int(slot) >> Self.chunkShift
        var agents = chunks[chunkIndex].agents
        agents[Int(slot) & (Self.chunkSize - 1)] = agent
        chunks[chunkIndex] = Chunk(agents)
    }

    mutating func append(_ agent: Agent) -> Int32 {
        let slot = Int32(count)
        if count & (Self.chunkSize - 1) == 0 {
            chunks.append(Chunk([agent]))
        } else {
            var agents = chunks[chunks.count - 1].agents
            agents.append(agent)
            chunks[chunks.count - 1] = Chunk(agents)
        }
        count += 1
        return slot
    }
}

/// A set of agents kept sorted by agent id, for selections.
///
/// Sorted order makes `first` and round robin independent of arrival order, lets the router
/// find (and skip) the sender by binary search, and makes uniform random picks O(1).
public struct CandidateSet: Sendable, RandomAccessCollection, Equatable {
    /// Registry slots of the members, in agent-id order.
    public private(set) var slots: [Int32]

    init(slots: [Int32] = []) { self.slots = slots }

    public var startIndex: Int { 0 }
    public var endIndex: Int { slots.count }
    @inlinable public subscript(position: Int) -> Int32 { slots[position] }

    /// The position of the agent with `id`, found by binary search.
    func position(of id: String, in storage: AgentStorage) -> Int? {
        let index = insertionPoint(of: id, in: storage)
        return index < slots.count && storage.id(slots[index]) == id ? index : nil
    }

    private func insertionPoint(of id: String, in storage: AgentStorage) -> Int {
        var low = 0
        var high = slots.count
        while low < high {
            let middle = (low + high) / 2
            if storage.id(slots[middle]) < id { low = middle + 1 } else { high = middle }
        }
        return low
    }

    mutating func insert(_ slot: Int32, in storage: AgentStorage) {
        let id = storage.id(slot)
        let index = insertionPoint(of: id, in: storage)
        if index < slots.count, slots[index] == slot { return }
        slots.insert(slot, at: index)
    }

    mutating func remove(_ slot: Int32, in storage: AgentStorage) {
        if let index = position(of: storage.id(slot), in: storage) { slots.remove(at: index) }
    }
}
