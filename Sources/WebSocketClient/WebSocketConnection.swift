import BrokerTransports
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Where a WebSocket server is: `ws://host:port/path` or `wss://…`.
public struct WebSocketEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var usesTLS: Bool
    public var host: String
    public var port: Int
    /// Path and query, starting with `/`.
    public var path: String
    /// `user:password` from the URL, sent as HTTP basic authentication; never printed.
    var credentials: String?

    /// Parses a `ws://` or `wss://` URL; the error text never contains the password.
    public init(url: String) throws(WebSocketConnectionError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "ws" || scheme == "wss", let host = components.host, !host.isEmpty
        else {
            throw .invalidURL(redactingPassword(in: url))
        }
        usesTLS = scheme == "wss"
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (usesTLS ? 443 : 80)
        guard (1...65535).contains(port) else { throw .invalidURL(redactingPassword(in: url)) }
        let query = components.percentEncodedQuery.map { "?" + $0 } ?? ""
        path = (components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath) + query
        if let user = components.user {
            credentials = user + ":" + (components.password ?? "")
        }
    }

    /// The URL without credentials, for logs.
    public var description: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "\(usesTLS ? "wss" : "ws")://\(hostText):\(port)\(path)"
    }

    /// Whether the host is an IP address (TLS then sends no SNI name, as RFC 6066 requires).
    var hostIsIPAddress: Bool { (try? SocketAddress(ipAddress: host, port: 0)) != nil }
}

/// Why a WebSocket connection could not be used.
public enum WebSocketConnectionError: Error, Sendable, CustomStringConvertible {
    case invalidURL(String)
    case connectTimedOut(String)
    case handshakeTimedOut(String)
    case upgradeRefused(String)
    case closed

    public var description: String {
        switch self {
        case .invalidURL(let url): "not a ws:// or wss:// URL: \(url)"
        case .connectTimedOut(let endpoint): "no TCP connection to \(endpoint) in time"
        case .handshakeTimedOut(let endpoint):
            "\(endpoint) accepted the connection but did not answer the WebSocket upgrade in time"
        case .upgradeRefused(let endpoint): "\(endpoint) refused the WebSocket upgrade"
        case .closed: "the connection closed"
        }
    }
}

/// A client WebSocket connection on SwiftNIO whose every wait is bounded: the TCP connect, the
/// TLS and upgrade handshake, and (through ``closeIfIdle(after:unless:)``) the peer's first reply.
/// Closing the channel is the one way everything ends, so a silent peer cannot hold a task.
package struct WebSocketConnection: Sendable {
    let channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>

    /// Timeouts and limits.
    package struct Settings: Sendable {
        package var connectTimeout: Duration = .seconds(5)
        package var handshakeTimeout: Duration = .seconds(5)
        package var maximumMessageSize = 1 << 20
        package var tls: TLSConfiguration = .makeClientConfiguration()

        package init() {}
    }

    private enum Upgrade: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    /// Connects and upgrades; throws when any step fails or takes too long.
    package static func open(
        _ endpoint: WebSocketEndpoint, settings: Settings,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> WebSocketConnection {
        let sslContext = endpoint.usesTLS ? try NIOSSLContext(configuration: settings.tls) : nil
        let maximumSize = settings.maximumMessageSize
        let handshake = settings.handshakeTimeout
        let timedOut = AtomicFlag()
        let upgrade: EventLoopFuture<Upgrade>
        do {
            upgrade = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(settings.connectTimeout.nanoseconds))
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            let handler = try NIOSSLClientHandler(
                                context: sslContext, serverHostname: endpoint.hostIsIPAddress ? nil : endpoint.host)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        }
                        let result = try Self.configureUpgrade(channel, endpoint: endpoint, maximumSize: maximumSize)
                        // A peer that accepts the connection and stays silent: close it.
                        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(handshake.nanoseconds)) {
                            timedOut.set()
                            channel.close(promise: nil)
                        }
                        result.whenComplete { _ in timer.cancel() }
                        return result
                    }
                }
        } catch ChannelError.connectTimeout {
            throw WebSocketConnectionError.connectTimedOut(endpoint.description)
        }
        let result: Upgrade
        do {
            result = try await upgrade.get()
        } catch {
            if timedOut.isSet { throw WebSocketConnectionError.handshakeTimedOut(endpoint.description) }
            throw error
        }
        guard case .websocket(let channel) = result else {
            throw WebSocketConnectionError.upgradeRefused(endpoint.description)
        }
        return WebSocketConnection(channel: channel)
    }

    private static func configureUpgrade(
        _ channel: any Channel, endpoint: WebSocketEndpoint, maximumSize: Int
    ) throws -> EventLoopFuture<Upgrade> {
        let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
            maxFrameSize: min(maximumSize, Int(UInt32.max)),
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                            maxAccumulatedFrameSize: maximumSize))
                    return Upgrade.websocket(
                        try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel))
                }
            })
        var headers = HTTPHeaders()
        let defaultPort = endpoint.usesTLS ? 443 : 80
        headers.add(
            name: "Host", value: endpoint.port == defaultPort ? endpoint.host : "\(endpoint.host):\(endpoint.port)")
        headers.add(name: "Content-Length", value: "0")
        if let credentials = endpoint.credentials {
            headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        }
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: endpoint.path, headers: headers)
        let configuration = NIOTypedHTTPClientUpgradeConfiguration<Upgrade>(
            upgradeRequestHead: request, upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { .refused } })
        return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
            configuration: .init(upgradeConfiguration: configuration))
    }

    /// Closes the connection after `timeout` unless `done()` says the wait is over by then.
    public func closeIfIdle(after timeout: Duration, unless done: @escaping @Sendable () -> Bool) -> Scheduled<Void> {
        let channel = self.channel.channel
        return channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
            if !done() { channel.close(promise: nil) }
        }
    }

    /// Runs `body` with the text messages from the server and a writer; answers pings and
    /// close frames itself; closes the connection when `body` returns or throws.
    package func run(_ body: (AsyncThrowingStream<String, any Error>, TextWriter) async throws -> Void) async throws {
        try await channel.executeThenClose { inbound, outbound in
            let writer = TextWriter(outbound: outbound)
            let (texts, continuation) = AsyncThrowingStream.makeStream(of: String.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await frame in inbound {
                            switch frame.opcode {
                            case .text:
                                continuation.yield(String(buffer: frame.unmaskedData))
                            case .ping:
                                try await writer.write(
                                    WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
                            case .connectionClose:
                                try? await writer.write(
                                    WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer()))
                                continuation.finish()
                                return
                            default:
                                continue
                            }
                        }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                try await body(texts, writer)
                group.cancelAll()
                channel.channel.close(promise: nil)
            }
        }
    }

    /// Writes frames to the server (masked, as RFC 6455 requires of a client).
    package struct TextWriter: Sendable {
        let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>

        package func send(_ text: String) async throws {
            try await write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
        }

        func write(_ frame: WebSocketFrame) async throws {
            var masked = frame
            masked.maskKey = .random()
            try await outbound.write(masked)
        }
    }
}

extension Duration {
    var nanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }
}
