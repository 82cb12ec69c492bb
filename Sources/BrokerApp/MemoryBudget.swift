import BrokerCore

#if canImport(Glibc)
    import Glibc
#endif

/// The most memory one `broker run` process takes with its limits, term by term: what each
/// bound lets in, plus what was measured at rest. Size a container's memory limit above
/// ``total``; a test checks the shipped Kubernetes manifest against it.
public struct MemoryBudget: Sendable, CustomStringConvertible {
    /// One part of the worst case and why it is bounded.
    public struct Term: Sendable {
        public var bytes: Int
        public var what: String
    }

    /// The parts of the worst case.
    public let terms: [Term]

    /// The process at rest: the Swift runtime, NIO's threads, rules, metrics and connections
    /// (measured: 26 MB release, 64 MB debug, with small messages).
    public static let atRest = 64 << 20
    /// What one agent of a status list takes in the registry (measured: 1,000,000 agents took
    /// 946 MB, each record with a few metrics).
    public static let perAgent = 1_000
    /// The largest status message the gRPC stream accepts.
    public static let statusMessage = 32 << 20
    /// What one console trial takes at most: its request parsed (256 KiB at 8x) and pasted
    /// rules compiled within 200,000 automaton steps (measured: 64 MB per 1,000,000 steps).
    public static let perTrial = 16 << 20
    /// What one admin connection's buffers take (NIO's receive buffer and a response).
    public static let perAdminConnection = 128 << 10

    public init(_ options: RunOptions, trials: Int = 2) {
        let message = options.maxMessageSize
        terms = [
            Term(bytes: Self.atRest, what: "the process at rest"),
            Term(bytes: options.maxInflightBytes, what: "messages in flight (--max-inflight-bytes)"),
            Term(
                bytes: MessageCost.reservation(bodySize: message),
                what: "one more message of --max-message-size, parsed and copied (it flows when the budget is full)"),
            Term(bytes: message, what: "the next message read off the socket (rabbitmq-c's frame buffer)"),
            Term(bytes: options.maxAgents * Self.perAgent, what: "the registry at --max-agents"),
            Term(
                bytes: Self.statusMessage + options.maxAgents * Self.perAgent,
                what: "the next status list arriving: its bytes and its records"),
            Term(bytes: trials * Self.perTrial, what: "\(trials) console trials at once"),
            Term(
                bytes: options.adminMaxConnections * Self.perAdminConnection,
                what: "admin connections (--admin-max-connections)"),
        ]
    }

    /// The worst case in bytes.
    public var total: Int { terms.reduce(0) { $0 + $1.bytes } }

    public var description: String {
        let lines = terms.map { (Self.mebibytes($0.bytes), $0.what) } + [(Self.mebibytes(total), "in all")]
        return lines.map { mebibytes, what in
            let number = String(mebibytes)
            return String(repeating: " ", count: max(0, 5 - number.count)) + number + " MiB  " + what
        }.joined(separator: "\n")
    }

    /// Makes the allocator map every block of 1 MiB or more on its own and unmap it when it
    /// is freed. glibc otherwise raises that threshold up to 32 MiB once a large block was
    /// freed, and keeps freed message bodies and parse buffers resident in its arenas, so the
    /// process stayed at its high-water mark after one large message.
    public static func returnLargeBlocksAtOnce() {
        #if canImport(Glibc)
            // mallopt is declared in <malloc.h>, which the Glibc module leaves out.
            typealias SetOption = @convention(c) (Int32, Int32) -> Int32
            let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
            _ = unsafeBitCast(symbol, to: SetOption.self)(mmapThreshold, 1 << 20)
        #endif
    }

    static func mebibytes(_ bytes: Int) -> Int { (bytes + (1 << 20) - 1) >> 20 }
}
