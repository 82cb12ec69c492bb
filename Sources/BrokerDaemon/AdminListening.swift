import Synchronization

extension AdminServer {
    /// Whether the admin server listens: its port once bound, and the tasks that wait to know.
    final class Listening: Sendable {
        private enum Phase {
            case starting([CheckedContinuation<Bool, Never>])
            case bound(port: Int)
            case failed
        }

        private let phase = Mutex(Phase.starting([]))

        /// The bound port, once bound.
        var port: Int? {
            phase.withLock {
                if case .bound(let port) = $0 { return port }
                return nil
            }
        }

        /// The server listens on `port`.
        func bound(to port: Int) { settle(.bound(port: port)) }

        /// The server will not listen (any more).
        func fail() { settle(.failed) }

        /// True once the server listens, false when it failed to.
        func outcome() async -> Bool {
            await withCheckedContinuation { continuation in
                let settled = phase.withLock { phase -> Bool? in
                    switch phase {
                    case .starting(var waiters):
                        waiters.append(continuation)
                        phase = .starting(waiters)
                        return nil
                    case .bound: return true
                    case .failed: return false
                    }
                }
                if let settled { continuation.resume(returning: settled) }
            }
        }

        private func settle(_ outcome: Phase) {
            let waiters = phase.withLock { phase -> [CheckedContinuation<Bool, Never>] in
                guard case .starting(let waiters) = phase else {
                    // Bound, then stopped: the port stays for `address`, later waiters hear "false"
                    // only when it never listened.
                    return []
                }
                phase = outcome
                return waiters
            }
            let listens = if case .bound = outcome { true } else { false }
            for waiter in waiters { waiter.resume(returning: listens) }
        }
    }
}
