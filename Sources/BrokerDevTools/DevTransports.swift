import BrokerApp
import BrokerTransports
import Foundation
import InMemoryTransport

/// `broker-dev run`'s transports: the product's, and named in-memory queues (`memory://NAME`)
/// for the demo and for tests that need no RabbitMQ.
public enum DevTransports: TransportCatalog {
    public static func factory(for options: RunOptions) -> TransportFactory {
        StandardTransports.factory(for: options)
            .registering(["memory"]) { try InMemoryTransport(url: $0) }
    }
}

/// The product `broker` the bench commands start as a separate process: `BROKER_BIN`, or the
/// `broker` beside this executable (`swift build` and `make install` put them side by side).
enum BrokerExecutable {
    static var url: URL {
        if let path = ProcessInfo.processInfo.environment["BROKER_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        return own.deletingLastPathComponent().appendingPathComponent("broker")
    }
}
