import AgentStatusGRPC
import BrokerCore
import GRPCCore
import HummingbirdWebSocket
import Synchronization

/// The simulated server's agents, brokers and switches, shared by its WebSocket and gRPC sides.
final class SimulatorState: Sendable {
    struct Subscriber {
        let continuation: AsyncThrowingStream<AgentStatusUpdate, any Error>.Continuation
    }

    struct Values {
        var agentOrder: [String] = []
        var agents: [String: AgentStatusRecord] = [:]
        var subscribers: [Int: Subscriber] = [:]
        var nextSubscriber = 0
        var brokers: [String: WebSocketOutboundWriter] = [:]
        var refuseRegistration = false
        /// Set while the server stops: registrations are turned away.
        var shuttingDown = false
        var omitGRPCPort = false
        /// Accept status subscriptions and never send the first list (a hostile server).
        var withholdFirstList = false
        var grpcPortReply: JSONValue?
        var grpcPort = 0
        var registrations = 0
        var statusCalls = 0
        var pongs = 0
        var subscribedBrokerIDs: [String] = []
    }

    let values = Mutex(Values())

    var fullList: AgentStatusUpdate {
        values.withLock { v in
            AgentStatusUpdate(agents: v.agentOrder.compactMap { v.agents[$0] }, isFullUpdate: true)
        }
    }

    /// Sends `update` to every open status stream.
    func broadcast(_ update: AgentStatusUpdate) {
        let subscribers = values.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.continuation.yield(update) }
    }

    func subscribe(brokerID: String) -> (Int, AsyncThrowingStream<AgentStatusUpdate, any Error>) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: AgentStatusUpdate.self)
        let id = values.withLock { v -> Int in
            v.nextSubscriber += 1
            v.subscribers[v.nextSubscriber] = Subscriber(continuation: continuation)
            v.subscribedBrokerIDs.append(brokerID)
            return v.nextSubscriber
        }
        return (id, stream)
    }

    func unsubscribe(_ id: Int) { _ = values.withLock { $0.subscribers.removeValue(forKey: id) } }

    /// Ends every status stream with an error, as a crashing server would.
    func dropStreams() {
        let subscribers = values.withLock { v -> [Subscriber] in
            defer { v.subscribers.removeAll() }
            return Array(v.subscribers.values)
        }
        for subscriber in subscribers {
            subscriber.continuation.finish(
                throwing: RPCError(code: .unavailable, message: "stream dropped by the simulator"))
        }
    }
}

/// The gRPC side: a full list first, then every change.
struct SimulatedStatusService: AgentStatus_AgentStatusService.SimpleServiceProtocol {
    let state: SimulatorState

    func subscribeToAgentStatus(
        request: AgentStatus_AgentStatusRequest, response: RPCWriter<AgentStatus_AgentStatusResponse>,
        context: ServerContext
    ) async throws {
        let (id, updates) = state.subscribe(brokerID: request.brokerID)
        defer { state.unsubscribe(id) }
        if state.values.withLock({ $0.withholdFirstList }) {
            // Silent until the client gives up (or the server stops).
            for try await _ in updates {}
            return
        }
        try await response.write(AgentStatus_AgentStatusResponse(state.fullList))
        for try await update in updates {
            try await response.write(AgentStatus_AgentStatusResponse(update))
        }
    }

    func getAgentStatus(request: AgentStatus_AgentStatusRequest, context: ServerContext) async throws
        -> AgentStatus_AgentStatusResponse
    {
        state.values.withLock { $0.statusCalls += 1 }
        return AgentStatus_AgentStatusResponse(state.fullList)
    }
}
