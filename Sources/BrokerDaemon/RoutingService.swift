import BrokerCore
import BrokerRouter
import BrokerTransports
import Logging
import ServiceLifecycle
import Synchronization

/// The message pipeline as one service: the inputs, the router, the output, and the flow control
/// that pauses the input while the registry is not synced.
///
/// Graceful shutdown happens here, in this order, bounded by the drain deadline:
/// 1. stop consuming (every input's graceful shutdown: no new deliveries);
/// 2. finish and confirm what is in flight (the router returns when all is settled);
/// 3. settle: the inputs apply the last acknowledgements and close;
/// 4. close the output.
/// Whatever is unsettled when the deadline passes is left for redelivery (the router's tasks are
/// cancelled, the output closes, answering open publishes as unknown, and the inputs close), and
/// the service throws ``DrainDeadlineExceeded`` so the process exits non-zero.
struct RoutingService: Service {
    let router: MessageRouter
    let input: any InboundSource
    let output: any OutboundSink
    let metadata: (any InboundSource)?
    let advertisements: (any InboundSource)?
    let metadataHandler: MetadataHandler
    let advertisementHandler: ServerAdvertisementHandler?
    let drainTimeout: Duration
    let logger: Logger
    let notifier: SystemdNotifier?
    /// Waits until the admin server listens (false when it cannot): nothing is consumed before.
    let adminListening: @Sendable () async -> Bool

    /// The drain did not finish in time.
    struct DrainDeadlineExceeded: Error, CustomStringConvertible {
        var deadline: Duration
        var unsettled: Int
        var description: String {
            "the drain deadline (\(deadline)) passed with messages unsettled; they are redelivered"
        }
    }

    private var inputs: [any InboundSource] { [input] + [metadata, advertisements].compactMap { $0 } }

    func run() async throws {
        // The admin server failed to listen: its error ends the group; take nothing.
        guard await adminListening() else { return }
        let gate = router.routingGate
        let (input, logger, notifier) = (self.input, self.logger, self.notifier)
        let helpers = [
            Task {
                await gate.controlFlow(of: input) { verdict in
                    RoutingService.log(verdict, logger: logger)
                    RoutingService.notify(verdict, notifier)
                }
            },
            Task { if let metadata { await metadataHandler.run(metadata) } },
            Task { if let advertisements, let advertisementHandler { await advertisementHandler.run(advertisements) } },
        ]
        let router = self.router
        let routing = Task { await router.run(input) }
        let expired = AtomicFlag()
        let deadline = Mutex<Task<Void, Never>?>(nil)
        await withGracefulShutdownHandler {
            await routing.value
        } onGracefulShutdown: {
            logger.info("stopping: draining in-flight messages", metadata: ["deadline": "\(drainTimeout)"])
            notifier?.send("STOPPING=1\nSTATUS=draining in-flight messages")
            for source in inputs { source.beginGracefulShutdown() }
            deadline.withLock { task in
                task = Task {
                    try? await Task.sleep(for: drainTimeout)
                    guard !Task.isCancelled else { return }
                    expired.set()
                    logger.warning("drain deadline passed: leaving unsettled messages for redelivery")
                    routing.cancel()
                    output.beginGracefulShutdown()
                }
            }
        }
        deadline.withLock { $0?.cancel() }
        for source in inputs { source.beginGracefulShutdown() }
        for helper in helpers { helper.cancel() }
        for source in inputs { await source.run() }
        output.beginGracefulShutdown()
        await output.run()
        for helper in helpers { await helper.value }
        logger.info("drained", metadata: ["settled": "\(router.statistics.settled)"])
        if expired.isSet {
            throw DrainDeadlineExceeded(deadline: drainTimeout, unsettled: router.statistics.inFlight)
        }
    }

    /// Ready once the broker routes; the status line says when it does not.
    static func notify(_ verdict: RoutingGate.Verdict, _ notifier: SystemdNotifier?) {
        guard let notifier else { return }
        switch verdict {
        case .route: notifier.send("READY=1\nSTATUS=routing")
        case .wait(let reason): notifier.send("STATUS=paused: the registry is not synced (\(reason))")
        case .deadLetter(let code, _): notifier.send("READY=1\nSTATUS=registry not synced: dead-lettering as \(code)")
        }
    }

    static func log(_ verdict: RoutingGate.Verdict, logger: Logger) {
        switch verdict {
        case .route(nil): logger.info("routing: the registry is synced with the agent server")
        case .route(let until?):
            logger.warning(
                "status stream down; routing on the last agent list for now", metadata: ["until": "\(until)"])
        case .wait(let reason):
            logger.warning("routing paused: the registry is not synced", metadata: ["reason": "\(reason)"])
        case .deadLetter(let code, let reason):
            logger.error(
                "registry not synced: dead-lettering every message",
                metadata: ["code": "\(code)", "reason": "\(reason)"])
        }
    }
}
