import Synchronization

/// Keeps the router's publishes in input order (``RouterConfiguration/keepsInputOrder``)
/// without waiting for confirms one at a time: each message takes a ``Turn`` as it arrives, and
/// hands it on once the output has *accepted* its publishes (taken them in the order it sends
/// in), so the next message's copies go out after them while confirms are awaited many at once.
final class InputOrder: Sendable {
    private let latest = Mutex<Turn.Signal?>(nil)

    /// The turn of the message that arrived now: it begins when the one before it ended.
    func nextTurn() -> Turn {
        let done = Turn.Signal()
        let previous = latest.withLock { latest in
            defer { latest = done }
            return latest
        }
        return Turn(previous: previous, done: done)
    }
}

/// One message's place in input order (see ``InputOrder``).
final class Turn: Sendable {
    private let previous: Signal?
    private let done: Signal

    fileprivate init(previous: Signal?, done: Signal) {
        self.previous = previous
        self.done = done
    }

    /// Waits until the message before this one ended its turn.
    func begin() async { await previous?.wait() }

    /// Hands the turn on (only the first call counts).
    func end() { done.fire() }

    /// A callback that ends the turn on its `count`th call: when the output accepted every
    /// copy of the message.
    func end(afterAccepting count: Int) -> @Sendable () -> Void {
        let countdown = Countdown(count)
        return { [self] in if countdown.tick() { end() } }
    }

    private final class Countdown: Sendable {
        private let remaining: Atomic<Int>
        init(_ count: Int) { remaining = Atomic(count) }
        /// Whether this call reached zero.
        func tick() -> Bool { remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
    }

    /// A one-shot event.
    final class Signal: Sendable {
        private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func fire() {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                guard !state.fired else { return [] }
                state.fired = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }

        func wait() async {
            await withCheckedContinuation { continuation in
                let fired = state.withLock { state in
                    if !state.fired { state.waiters.append(continuation) }
                    return state.fired
                }
                if fired { continuation.resume() }
            }
        }
    }
}
