import BrokerDaemon
import BrokerTransports
import Foundation
import Logging
import UnixSignals

/// `broker run`'s composition root: options → configuration (the transport from `transports`)
/// → daemon, run until a signal or ``BrokerDaemon/Daemon/stop()`` has drained it.
public enum BrokerRunner {
    /// A start-up failure, with the exit status `broker run` uses for it.
    public struct StartFailure: Error, CustomStringConvertible {
        public var description: String
        /// 2 for invalid rules or options, 1 otherwise.
        public var status: Int32
    }

    /// Builds the daemon for `options`.
    public static func daemon(_ options: RunOptions, transports: TransportFactory? = nil) throws -> Daemon {
        do {
            return try Daemon(configuration: try options.configuration(transports: transports))
        } catch let error as RuleReloader.InvalidRules {
            throw StartFailure(description: error.description, status: 2)
        } catch let error as TransportURLError {
            throw StartFailure(description: "error: \(error)", status: 2)
        } catch {
            throw StartFailure(description: "error: \(error)", status: 2)
        }
    }
}
