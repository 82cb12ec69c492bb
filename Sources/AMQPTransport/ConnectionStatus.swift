import BrokerTransports
import Dispatch
import Synchronization

/// The state of one connection-owning thread (consumer or publisher), read by ``TransportHealth``.
final class ConnectionStatus: Sendable {
    private let state = Mutex((state: TransportHealth.State.connecting, detail: String?.none))

    func connected() { state.withLock { $0 = (.connected, nil) } }
    func lost(_ reason: String) { state.withLock { $0 = (.reconnecting, reason) } }
    func blocked(_ reason: String) { state.withLock { $0 = (.blocked, reason) } }
    func unblocked() { state.withLock { if $0.state == .blocked { $0 = (.connected, nil) } } }
    func closed() { state.withLock { $0 = (.closed, nil) } }

    func health(endpoint: String, queue: String?) -> TransportHealth {
        let (current, detail) = state.withLock { $0 }
        return TransportHealth(state: current, endpoint: queue.map { "\(endpoint) \($0)" } ?? endpoint, detail: detail)
    }
}

extension DispatchSemaphore {
    /// Waits, without blocking a task thread, until the semaphore has been signalled once (a
    /// connection thread's end); leaves it signalled for every later waiter.
    func passed() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.wait()
                self.signal()
                done.resume()
            }
        }
    }
}
