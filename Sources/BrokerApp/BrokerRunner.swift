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

    /// Builds the daemon for `options`; with `handlesSignals`, SIGTERM and SIGINT stop it and
    /// SIGHUP reloads its rules (the process's own daemon, not one inside a test).
    public static func daemon(
        _ options: RunOptions, transports: TransportFactory? = nil, handlesSignals: Bool = false
    ) throws -> Daemon {
        do {
            var configuration = try options.configuration(transports: transports)
            configuration.handlesSignals = handlesSignals
            return try Daemon(configuration: configuration)
        } catch let error as RuleReloader.InvalidRules {
            throw StartFailure(description: error.description, status: 2)
        } catch {
            throw StartFailure(description: "error: \(error)", status: 2)
        }
    }
}
