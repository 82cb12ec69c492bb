import BrokerCore
import BrokerRouter
import BrokerTransports
import Foundation

extension Daemon {
    /// Readiness, check by check (`/readyz`): rules loaded, registered with the agent server,
    /// routing (the registry synced or within its staleness bound), dead letters going through,
    /// input and output connected.
    public var readiness: [ReadinessCheck] {
        var checks = [ReadinessCheck(check: "rules", ok: true, detail: String(reloader.status.hash.prefix(12)))]
        if let link = feed.link {
            switch link.state {
            case .registered(let r): checks.append(ReadinessCheck(check: "agent_server", ok: true, detail: r.brokerID))
            case .connecting: checks.append(ReadinessCheck(check: "agent_server", ok: false, detail: "connecting"))
            case .disconnected(let reason):
                checks.append(ReadinessCheck(check: "agent_server", ok: false, detail: reason))
            }
        }
        let status = registry.sync.status
        let since = AdminJSON.timestamp(status.since)
        let state = "\(status.state.rawValue) since \(since)"
        switch router.routingGate.verdict(status) {
        case .route(let until?):
            checks.append(
                ReadinessCheck(
                    check: "registry", ok: true, detail: "\(state), routing until \(AdminJSON.timestamp(until))"))
        case .route(nil):
            if let warmup = status.warmup {
                checks.append(
                    ReadinessCheck(
                        check: "registry", ok: true,
                        detail:
                            "\(state), warming up until \(AdminJSON.timestamp(warmup.deadline)) at the latest: \(warmup.reason); \(router.statistics.waitingForAgents) messages wait for agents"
                    ))
            } else {
                checks.append(ReadinessCheck(check: "registry", ok: true, detail: state))
            }
        case .wait(let reason):
            checks.append(ReadinessCheck(check: "registry", ok: false, detail: "\(state): \(reason); routing paused"))
        case .deadLetter(let code, _):
            checks.append(ReadinessCheck(check: "registry", ok: false, detail: "\(state): dead-lettering as \(code)"))
        }
        let deadLetters = router.deadLetters
        if let failure = deadLetters.currentFailure {
            checks.append(
                ReadinessCheck(
                    check: "dead_letter", ok: false,
                    detail:
                        "\(failure.reason) (at \(AdminJSON.timestamp(failure.at))); inputs are requeued with a pause"))
        } else {
            checks.append(
                ReadinessCheck(check: "dead_letter", ok: true, detail: "\(deadLetters.failures) failed so far"))
        }
        let missing = router.outputQueues.failures
        checks.append(
            ReadinessCheck(
                check: "output_queues", ok: missing.isEmpty,
                detail: missing.isEmpty
                    ? "declared"
                    : missing.map { "\($0.queue) is gone and cannot be declared: \($0.reason)" }.joined(
                        separator: "; ")))
        for (name, health) in transports {
            checks.append(ReadinessCheck(check: name, ok: health.isUp, detail: health.description))
        }
        return checks
    }

    /// The input and output connections, by role.
    public var transports: [(role: String, health: TransportHealth)] {
        [("input", input.health), ("output", output.health)]
    }

    /// Connection states for `/metrics`.
    var connections: [(String, Bool)] {
        var result = transports.map { ($0.role, $0.health.isUp) }
        if let link = feed.link {
            let registered = if case .registered = link.state { true } else { false }
            result.append(("websocket", registered))
            result.append(("grpc", registry.sync.state != .unsynced))
        }
        return result
    }
}
