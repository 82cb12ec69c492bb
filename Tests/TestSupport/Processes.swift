import Foundation
import Synchronization
import Testing

/// What a finished command wrote and how it ended.
public struct CommandResult: Sendable {
    public var status: Int32
    /// Standard output (with standard error interleaved when they were merged).
    public var output: String
    /// Standard error, when it was kept apart.
    public var error: String
}

/// Runs a command to its end and returns what it wrote. `input` goes to its standard input.
///
/// The waiting happens on a thread of its own: a test that blocked one of Swift's cooperative
/// threads (two on a 2-core machine) would starve every async test running beside it, which
/// then time out ("waiting until the admin server listens") for no fault of theirs.
public func runProcess(
    _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil,
    in directory: URL = repositoryRoot, mergingErrors: Bool = false
) async throws -> CommandResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(
                with: Result {
                    try runBlocking(
                        executable, arguments, environment: environment, input: input, in: directory,
                        mergingErrors: mergingErrors)
                })
        }
    }
}

/// Runs a command to its end; returns its exit status and everything it wrote (stdout and
/// stderr together). `input` goes to its standard input.
@discardableResult
public func runCommand(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil,
    in directory: URL = repositoryRoot
) async throws -> (status: Int32, output: String) {
    let result = try await runProcess(
        URL(fileURLWithPath: executable), arguments, environment: environment, input: input, in: directory,
        mergingErrors: true)
    return (result.status, result.output)
}

/// ``runCommand(_:_:environment:input:in:)`` for set-up code that cannot be async (it blocks
/// the calling thread: keep it to short commands run once).
@discardableResult
public func runCommandBlocking(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil,
    in directory: URL = repositoryRoot
) throws -> (status: Int32, output: String) {
    let result = try runBlocking(
        URL(fileURLWithPath: executable), arguments, environment: environment, input: input, in: directory,
        mergingErrors: true)
    return (result.status, result.output)
}

private func runBlocking(
    _ executable: URL, _ arguments: [String], environment: [String: String]?, input: String?, in directory: URL,
    mergingErrors: Bool
) throws -> CommandResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.currentDirectoryURL = directory
    let output = Pipe()
    let errors = mergingErrors ? output : Pipe()
    let standardInput = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = standardInput
    try process.run()
    // Standard error is drained beside standard output, so neither pipe can fill and stall the child.
    let errorText = Mutex("")
    let drained = DispatchSemaphore(value: 0)
    if !mergingErrors {
        Thread.detachNewThread {
            let data = errors.fileHandleForReading.readDataToEndOfFile()
            errorText.withLock { $0 = String(decoding: data, as: UTF8.self) }
            drained.signal()
        }
    }
    if let input { standardInput.fileHandleForWriting.write(Data(input.utf8)) }
    try standardInput.fileHandleForWriting.close()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    if !mergingErrors { drained.wait() }
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, output: text, error: errorText.withLock { $0 })
}

extension Process {
    /// Waits until the process has exited, without holding a cooperative thread; a process still
    /// running after `timeout` fails the test and is killed, so no test waits for ever.
    public func exited(within timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation)
        async
    {
        let deadline = ContinuousClock.now + timeout
        while isRunning {
            guard ContinuousClock.now < deadline else {
                Issue.record(
                    "process \(processIdentifier) still running after \(timeout): killed",
                    sourceLocation: sourceLocation)
                kill(processIdentifier, SIGKILL)
                waitUntilExit()
                return
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// A TCP port on 127.0.0.1 that listens and never accepts: the kernel completes connections, and
/// nothing answers (a taken port, or a silent server).
public final class ListeningSocket: @unchecked Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// Runs `work` on a thread of its own and returns its result: for long blocking or CPU-heavy
/// work in an async test, which would otherwise hold one of the cooperative threads (two on a
/// 2-core machine) and stall every other test of the run.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}
