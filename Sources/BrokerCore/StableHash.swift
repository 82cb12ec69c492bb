/// A hash function with a fixed definition, for decisions that must agree across processes.
///
/// Swift's `Hasher` is seeded per process, so two broker replicas would disagree. This is
/// 64-bit FNV-1a over the UTF-8 bytes, finished with the SplitMix64 mixer; rendezvous scores
/// combine a key hash and an agent hash with the same mixer. The definition is part of the
/// product's contract: changing it moves every sticky conversation.
public enum StableHash {
    /// The FNV-1a 64 hash of `text`'s UTF-8 bytes, mixed with SplitMix64.
    @inlinable
    public static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01B3
        }
        return mix(h)
    }

    /// The SplitMix64 finaliser: a bijection that spreads every input bit over the output.
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The rendezvous (highest random weight) score of an agent for a key.
    @inlinable
    public static func rendezvousScore(key: UInt64, agent: UInt64) -> UInt64 {
        mix(key ^ (agent &* 0xD6E8_FEB8_6659_FD93))
    }
}

/// A small, fast pseudo-random generator (wyrand) for routing choices.
///
/// Each router owns one, so random picks take no lock and make no system call.
public struct FastRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator with an explicit seed (tests and benchmarks use fixed seeds).
    public init(seed: UInt64) { state = seed }

    /// Creates a generator seeded from the system's random source.
    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0xa076_1d64_78bd_642f
        let product = state.multipliedFullWidth(by: state ^ 0xe703_7ed1_a0b4_28db)
        return product.high ^ product.low
    }

    /// A uniform integer in `0..<upperBound` (Lemire's method).
    @inlinable
    public mutating func below(_ upperBound: Int) -> Int {
        precondition(upperBound > 0)
        let bound = UInt64(upperBound)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = next().multipliedFullWidth(by: bound)
            }
        }
        return Int(product.high)
    }
}
