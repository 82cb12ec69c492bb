import Foundation

/// A process the test started (the broker, the simulator), with its output kept in a file so a
/// failing test can show it. It is killed when the value goes away, so no test leaves one behind.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    public let outputFile: URL
    public let name: String

    /// Starts `executable` with `arguments`; `environment` replaces the test's environment.
    public init(
        _ name: String, executable: URL = brokerExecutable, arguments: [String], environment: [String: String] = [:]
    ) throws {
        self.name = name
        outputFile = temporaryPath("\(name).log")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputFile)
        process.executableURL = executable
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env.merge(environment) { $1 }
        process.environment = env
        process.currentDirectoryURL = repositoryRoot
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: outputFile)
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// Everything the process wrote so far.
    public var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// Sends `signal`.
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; returns its status, or nil when `timeout` passed (the
    /// process is then killed).
    @discardableResult
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                send(SIGKILL)
                process.waitUntilExit()
                return nil
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }

    /// Stops the process with SIGTERM (SIGKILL after `timeout`); returns its exit status.
    @discardableResult
    public func stop(timeout: Duration = .seconds(15)) async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        send(SIGTERM)
        return await waitForExit(timeout: timeout)
    }

    /// The last lines of the output, for failure messages.
    public func tail(_ lines: Int = 40) -> String {
        "--- \(name) output (last \(lines) lines) ---\n"
            + output.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}
