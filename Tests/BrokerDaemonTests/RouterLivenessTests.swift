import BrokerDaemon
import Testing

/// What systemd's watchdog hears: a router that holds messages and does not move is stuck; one
/// that is idle, moving, waiting for the registry or held back by RabbitMQ is alive.
@Suite struct RouterLivenessTests {
    /// What the router shows at a second from the start.
    struct At {
        var second: Int
        var progress: Int
        var inFlight: Int
        var waiting = 0
        var blocked = false
    }

    /// What a one-minute watchdog says of each reading, in order.
    func verdicts(_ readings: [At]) -> [Bool] {
        var liveness = RouterLiveness(window: .seconds(60))
        let start = ContinuousClock.now
        return readings.map {
            liveness.isAlive(
                RouterLiveness.Reading(
                    progress: $0.progress, inFlight: $0.inFlight, waiting: $0.waiting, outputBlocked: $0.blocked),
                at: start + .seconds($0.second))
        }
    }

    @Test func aRouterHoldingMessagesWithoutMovingForAWindowIsStuck() {
        let said = verdicts([
            At(second: 0, progress: 10, inFlight: 5), At(second: 59, progress: 10, inFlight: 5),
            At(second: 61, progress: 10, inFlight: 5),
            // One message settled: alive again, and the window starts over.
            At(second: 62, progress: 11, inFlight: 4), At(second: 100, progress: 11, inFlight: 4),
            At(second: 123, progress: 11, inFlight: 4),
        ])
        #expect(said == [true, true, false, true, true, false])
    }

    @Test func anIdleRouterIsAliveForEver() {
        let said = verdicts((0..<10).map { At(second: 60 * $0, progress: 3, inFlight: 0) })
        #expect(said == Array(repeating: true, count: 10))
    }

    @Test func waitingForTheRegistryOrABlockedOutputIsNotBeingStuck() {
        let said = verdicts([
            At(second: 0, progress: 0, inFlight: 5, waiting: 5), At(second: 600, progress: 0, inFlight: 5, waiting: 5),
            At(second: 1200, progress: 0, inFlight: 5, blocked: true),
            // Unblocked and still not moving: stuck one window later.
            At(second: 1230, progress: 0, inFlight: 5), At(second: 1261, progress: 0, inFlight: 5),
        ])
        #expect(said == [true, true, true, true, false])
    }
}
