import BrokerDaemon
import Logging
import UnixSignals

/// How the `broker run` process ends. The daemon's service group turns SIGTERM and SIGINT into
/// a graceful shutdown bounded by the drain deadline; the process makes sure it ends even when
/// that cannot finish: a signal that comes before the group runs is passed on, a second one
/// ends the process at once, and a shutdown that outlasts ``Daemon/processDeadline`` (a peer
/// that hangs) ends it too. The exit itself is `main`'s.
enum ShutdownSupervisor {
    /// How a run ended.
    enum Ending {
        /// Drained and closed.
        case finished
        /// The daemon stopped with an error (the drain deadline passed, a port was taken, …).
        case failed(any Error)
        /// A second SIGTERM or SIGINT.
        case secondSignal
        /// The graceful shutdown took longer than the daemon's process deadline.
        case overdue
    }

    /// Runs `daemon` and returns how it ended; `signals` must trap SIGTERM and SIGINT.
    static func run(_ daemon: Daemon, signals: UnixSignalsSequence, logger: Logger) async -> Ending {
        let (endings, ended) = AsyncStream.makeStream(of: Ending.self)
        let running = Task { await Self.ending(of: daemon, into: ended) }
        let watching = Task { await Self.watch(signals, daemon: daemon, logger: logger, into: ended) }
        var ending = Ending.finished
        for await first in endings {
            ending = first
            break
        }
        watching.cancel()
        if case .finished = ending { await running.value }
        return ending
    }

    private static func ending(of daemon: Daemon, into ended: AsyncStream<Ending>.Continuation) async {
        do {
            try await daemon.run()
            ended.yield(.finished)
        } catch {
            ended.yield(.failed(error))
        }
    }

    /// The first signal stops the daemon and starts the clock; a second one ends the process.
    private static func watch(
        _ signals: UnixSignalsSequence, daemon: Daemon, logger: Logger, into ended: AsyncStream<Ending>.Continuation
    ) async {
        var overdue: Task<Void, Never>?
        defer { overdue?.cancel() }
        for await signal in signals {
            if overdue != nil {
                logger.warning("second signal: exiting at once", metadata: ["signal": "\(signal)"])
                ended.yield(.secondSignal)
                return
            }
            logger.info("signal: shutting down", metadata: ["signal": "\(signal)"])
            daemon.stop()
            overdue = Task { await Self.expire(after: daemon.processDeadline, logger: logger, into: ended) }
        }
    }

    private static func expire(
        after deadline: Duration, logger: Logger, into ended: AsyncStream<Ending>.Continuation
    ) async {
        guard (try? await Task.sleep(for: deadline)) != nil else { return }
        logger.error(
            "shutdown did not finish within the drain deadline and margin; exiting (unsettled messages are redelivered)",
            metadata: ["limit": "\(deadline)"])
        ended.yield(.overdue)
    }
}
