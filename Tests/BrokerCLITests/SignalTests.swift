import Foundation
import TestSupport
import Testing

/// `broker run` as a process on in-memory queues (no RabbitMQ needed for its signal handling):
/// `broker-dev run`, the same command with `memory://` among its transports.
@Suite(.timeLimit(.minutes(10))) struct SignalTests {
    func startBroker() throws -> ChildProcess {
        try ChildProcess(
            "broker", executable: brokerDevExecutable,
            arguments: [
                "run", "--transport", "memory://signals", "--rules", "rules/default.yaml", "--registry",
                "rules/registries/three-agents.yaml", "--admin-address", "127.0.0.1:0", "--no-watch-rules",
            ])
    }

    @Test func aSIGHUPAtOnceAfterStartDoesNotKillTheProcess() async throws {
        for _ in 0..<5 {
            let broker = try startBroker()
            broker.send(SIGHUP)
            try await remains("running: a SIGHUP right after start must not kill broker run", for: .milliseconds(300)) {
                broker.isRunning
            }
            broker.send(SIGHUP)
            try await eventually("running and reloading", timeout: .seconds(10)) {
                broker.output.contains("broker running")
            }
            #expect(await broker.stop() == 0, "\(broker.tail())")
        }
    }

    /// SIGHUP is ignored before any library is initialised or any Swift code runs: a library
    /// preloaded into `broker` finds it ignored in its constructor (the program's ELF
    /// pre-initialisation functions run before every library's constructors; `main`, where it
    /// was ignored before, comes milliseconds later). What is left of the window is the kernel's
    /// exec and the dynamic loader mapping the libraries.
    @Test func sighupIsIgnoredBeforeAnyLibraryIsInitialised() async throws {
        let directory = temporaryPath("sighup-probe")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("probe.c")
        try """
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        __attribute__((constructor)) static void probe(void) {
            const char *path = getenv("SIGHUP_PROBE");
            struct sigaction action;
            if (path == NULL || sigaction(SIGHUP, NULL, &action) != 0) return;
            FILE *out = fopen(path, "w");
            fputs(action.sa_handler == SIG_IGN ? "ignored" : "default", out);
            fclose(out);
        }
        """.write(to: source, atomically: true, encoding: .utf8)
        let library = directory.appendingPathComponent("probe.so")
        let (_, swift) = try await runCommand("/usr/bin/env", ["sh", "-c", "readlink -f \"$(command -v swift)\""])
        let clang = URL(fileURLWithPath: swift.trimmingCharacters(in: .whitespacesAndNewlines))
            .deletingLastPathComponent().appendingPathComponent("clang").path
        let compiled = try await runCommand(clang, ["-shared", "-fPIC", "-o", library.path, source.path])
        #expect(compiled.status == 0, "\(compiled.output)")
        let found = directory.appendingPathComponent("found")
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = library.path
        environment["SIGHUP_PROBE"] = found.path
        let run = try await runCommand(CLITests.binary.path, ["--version"], environment: environment)
        #expect(run.status == 0, "\(run.output)")
        #expect(try String(contentsOf: found, encoding: .utf8) == "ignored")
    }

    @Test func sigtermDrainsAndExitsZero() async throws {
        let broker = try startBroker()
        try await eventually("running", timeout: .seconds(10)) { broker.output.contains("broker running") }
        #expect(await broker.stop() == 0, "\(broker.tail())")
        #expect(broker.output.contains("drained"))
    }

    /// `broker run` (the product) toward a RabbitMQ that accepts the connection and never speaks,
    /// once it runs; the silent socket is returned to be kept open.
    func startAgainstASilentRabbitMQ(_ name: String, _ arguments: [String]) async throws -> (
        ChildProcess, ListeningSocket
    ) {
        let silentRabbit = try ListeningSocket()
        let broker = try ChildProcess(
            name,
            arguments: [
                "run", "--transport", "amqp://guest:guest@127.0.0.1:\(silentRabbit.port)/", "--rules",
                "rules/default.yaml", "--admin-address", "127.0.0.1:0", "--no-watch-rules",
            ] + arguments)
        try await eventually("running", timeout: .seconds(10)) { broker.output.contains("broker running") }
        return (broker, silentRabbit)
    }

    /// A RabbitMQ that accepts the connection and never speaks, and an agent server that does
    /// the same: SIGTERM still ends the process within the drain deadline and a margin.
    @Test func sigtermEndsTheProcessWithinTheDrainDeadlineWhenPeersHang() async throws {
        let silentServer = try ListeningSocket()
        let (broker, silentRabbit) = try await startAgainstASilentRabbitMQ(
            "broker-hung-peers", ["--websocket-url", "ws://127.0.0.1:\(silentServer.port)/ws", "--drain-timeout", "1"])
        try await Task.sleep(for: .milliseconds(500))  // every peer connection is under way and hanging
        let signalled = ContinuousClock.now
        broker.send(SIGTERM)
        let status = await broker.waitForExit(timeout: .seconds(20))
        let took = ContinuousClock.now - signalled
        #expect(status != nil, "still running 20 s after SIGTERM\n\(broker.tail())")
        #expect(took < .seconds(8), "exited \(took) after SIGTERM; the deadline is 1 s plus a 5 s margin")
        withExtendedLifetime((silentRabbit, silentServer)) {}
    }

    /// A shutdown held by a peer that hangs, with a long drain deadline: a second SIGTERM ends
    /// the process at once, exit 1.
    @Test func aSecondSignalEndsAHeldShutdownAtOnce() async throws {
        let (broker, silentRabbit) = try await startAgainstASilentRabbitMQ(
            "broker-second-signal", ["--registry", "rules/registries/three-agents.yaml", "--drain-timeout", "120"])
        broker.send(SIGTERM)
        try await eventually("shutting down", timeout: .seconds(10)) { broker.output.contains("signal: shutting down") }
        #expect(broker.isRunning, "the drain is held by the silent RabbitMQ\n\(broker.tail())")
        broker.send(SIGTERM)
        let status = await broker.waitForExit(timeout: .seconds(10))
        #expect(status == 1, "\(broker.tail())")
        #expect(broker.output.contains("second signal: exiting at once"), "\(broker.tail())")
        withExtendedLifetime(silentRabbit) {}
    }
}

/// A FIFO (or another non-regular file) named as rules, shadow rules or the record file held
/// `broker run` at start-up for good, deaf to SIGTERM: it is refused at once, with its name.
@Suite(.timeLimit(.minutes(10))) struct NonRegularFileTests {
    @Test(arguments: ["--rules", "--shadow-rules", "--record"])
    func aFIFOIsRefusedAtStartUp(_ option: String) async throws {
        let directory = temporaryPath("fifo")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("named.yaml").path
        #expect(mkfifo(fifo, 0o600) == 0)
        var arguments = [
            "run", "--transport", "memory://fifo", "--registry", "rules/registries/three-agents.yaml",
            "--admin-address", "127.0.0.1:0", "--no-watch-rules",
        ]
        arguments += option == "--rules" ? ["--rules", fifo] : ["--rules", "rules/default.yaml", option, fifo]
        let broker = try ChildProcess("broker-fifo", executable: brokerDevExecutable, arguments: arguments)
        let status = await broker.waitForExit(timeout: .seconds(20))
        if status == nil { broker.send(SIGKILL) }
        #expect(status != nil && status != 0, "\(option) FIFO: still running\n\(broker.tail())")
        #expect(broker.output.contains("\(fifo)"), "\(broker.tail())")
        #expect(broker.output.contains("is a FIFO"), "\(broker.tail())")
    }

    @Test func validateRulesRefusesAFIFOInADirectory() async throws {
        let directory = temporaryPath("fifo-dir")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(
            at: repositoryRoot.appendingPathComponent("rules/default.yaml"),
            to: directory.appendingPathComponent("a.yaml"))
        let fifo = directory.appendingPathComponent("b.yaml").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let run = try ChildProcess("validate-fifo", arguments: ["validate-rules", directory.path])
        let status = await run.waitForExit(timeout: .seconds(20))
        if status == nil { run.send(SIGKILL) }
        #expect(status == 2, "\(run.tail())")
        #expect(run.output.contains("b.yaml: is a FIFO"), "\(run.tail())")
    }
}
