import AMQPTestSupport
import AMQPTransport
import AgentServerSimulator
import BrokerCore
import BrokerRouter
import Foundation
import TestSupport
import Testing

extension RabbitMQIntegration.DaemonProcessTests {
    /// A kilobyte figure of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
    func memory(_ field: String, of process: Process) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix(field + ":") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])) << 10
    }

    /// One message inside the default limits cannot multiply itself in memory: 12 MiB of
    /// `[0,0,…]` (24 bytes per 2 once parsed: it peaked at 17-25 times its size) is dead-lettered
    /// as `too_large` within what the budget counts for it, and a 12 MiB text beside it is
    /// routed; the process grows by at most what one message may take
    /// (`MessageCost.reservation`) and the frame being read.
    @Test func aDenseMessageIsRefusedWithinItsBudgetAndALargeTextRouted() async throws {
        _ = try AMQPAdmin.messageCount("broker_test_probe", configuration: rabbit)
        let simulator = AgentServerSimulator()
        simulator.setAgents(agents(["agent_a", "agent_b", "agent_c"]))
        try await simulator.start()
        let id = String(UUID().uuidString.prefix(8)).lowercased()
        let broker = try startBroker(simulator: simulator, id: id)
        defer {
            if broker.process.isRunning { broker.process.terminate() }
            cleanUp(broker)
        }
        try await eventually("ready") { await ready(broker) }
        let rest = try memory("VmRSS", of: broker.process)
        let size = 12 << 20
        let head = #"{"message_type":"TEXT","sender_id":"agent_a","message_id":"#
        var denseBody = Array((head + #""dense","n":["#).utf8)
        while denseBody.count < size { denseBody += Array("0,".utf8) }
        denseBody += Array("0]}".utf8)
        let text = Array((head + #""text","text_payload":""# + String(repeating: "x", count: size) + #""}"#).utf8)
        try await fill(broker.queues.input, [denseBody, text])
        try await eventually("the dense one dead-lettered, the text routed", timeout: .seconds(90)) {
            let dead = try AMQPAdmin.messageCount(broker.queues.dead, configuration: rabbit)
            let routed = try AMQPAdmin.messageCount(broker.queues.output, configuration: rabbit)
            return dead == 1 && routed == 1
        }
        let peak = try memory("VmHWM", of: broker.process)
        let bound = MessageCost.reservation(bodySize: text.count) + text.count
        #expect(
            peak - rest <= bound,
            "grew \((peak - rest) >> 20) MiB over \(rest >> 20) MiB at rest; bound \(bound >> 20) MiB")
        let dead = await TestRabbitMQ.drain(broker.queues.dead, configuration: rabbit)
        #expect(dead.first?.headers[MessageRouter.Header.reasonCode]?.text == "too_large")
        #expect(dead.first?.headers[MessageRouter.Header.reason]?.text?.contains("too dense") == true)
        #expect(dead.first?.body == denseBody, "the dead letter is the message as it came")
        kill(broker.process.processIdentifier, SIGTERM)
        await broker.process.exited()
        await simulator.stop()
    }
}
