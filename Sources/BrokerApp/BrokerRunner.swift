import BrokerDaemon
import BrokerTransports
import Foundation

/// Builds `broker run`'s daemon: options → configuration (the transport from `transports`, the
/// agent feed from the options) → daemon.
public enum BrokerRunner {
    /// A start-up failure, with the exit status `broker run` uses for it.
    public struct StartFailure: Error, CustomStringConvertible {
        public var description: String
        /// Always 2: whatever fails before the daemon runs (invalid rules, options, a transport
        /// URL or a file the options name) is the configuration's fault, not a run's.
        public var status: Int32
    }

    /// Builds the daemon for `options`.
    public static func daemon(_ options: RunOptions, transports: TransportFactory? = nil) throws -> Daemon {
        do {
            return try Daemon(configuration: try options.configuration(transports: transports))
        } catch let error as RuleReloader.InvalidRules {
            throw StartFailure(description: error.description, status: 2)
        } catch {
            throw StartFailure(description: "error: \(error)", status: 2)
        }
    }
}
