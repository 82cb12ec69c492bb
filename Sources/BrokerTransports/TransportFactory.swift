/// One message system the broker reads from and writes to, as a factory of inputs and outputs
/// (a RabbitMQ server for `amqp://…`; named in-memory queues for `memory://…` in the demo and tests).
public protocol Transport: Sendable {
    /// Where it is (credentials redacted), for logs.
    var endpoint: String { get }
    /// A consumer of `queue` with at most `prefetch` unsettled messages; it delivers nothing
    /// until ``InboundSource/resume()`` when `paused`.
    func makeInbound(queue: String, prefetch: Int, paused: Bool) throws -> any InboundSource
    /// A publisher that makes sure `queues` exist whenever it (re)connects.
    func makeOutbound(declaring queues: [String]) throws -> any OutboundSink
    /// A consumer of `queue` that also holds at most `maximumUnsettledBytes` of unsettled
    /// messages (one message more when nothing is unsettled), each counted as what routing it
    /// may take (`MessageCost.reservation(bodySize:)`: its body, parsed and copied): prefetch
    /// bounds messages, this bounds memory. Transports that keep no bytes of their own need not
    /// implement it.
    func makeInbound(queue: String, prefetch: Int, maximumUnsettledBytes: Int, paused: Bool) throws
        -> any InboundSource
}

extension Transport {
    public func makeInbound(queue: String, prefetch: Int, maximumUnsettledBytes: Int, paused: Bool) throws
        -> any InboundSource
    {
        try makeInbound(queue: queue, prefetch: prefetch, paused: paused)
    }
}

/// Picks a ``Transport`` by the scheme of a URL. The broker's own transports are registered by
/// the application (`amqp`, `amqps`; `broker-dev` adds `memory`); anything else can be added with
/// ``registering(_:_:)`` without touching the router, the rules or the daemon.
public struct TransportFactory: Sendable {
    /// Makes a transport from its URL.
    public typealias Maker = @Sendable (_ url: String) throws -> any Transport

    private var makers: [String: Maker] = [:]

    public init() {}

    /// This factory with `schemes` handled by `maker`.
    public func registering(_ schemes: [String], _ maker: @escaping Maker) -> TransportFactory {
        var copy = self
        for scheme in schemes { copy.makers[scheme.lowercased()] = maker }
        return copy
    }

    /// The schemes it knows.
    public var schemes: [String] { makers.keys.sorted() }

    /// The transport for `url`.
    public func transport(for url: String) throws -> any Transport {
        guard let separator = url.range(of: "://") else {
            throw TransportURLError(message: "'\(redactingPassword(in: url))' is not a URL (scheme://…)")
        }
        let scheme = url[..<separator.lowerBound].lowercased()
        guard let maker = makers[scheme] else {
            throw TransportURLError(
                message:
                    "no transport for '\(scheme)://' (known: \(schemes.map { $0 + "://" }.joined(separator: ", ")))")
        }
        return try maker(url)
    }
}

/// A URL no transport can use.
public struct TransportURLError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
