import BrokerCore
import BrokerRouter
import Foundation
import Logging
import RoutingRules
import Synchronization

/// `--record FILE`: every decision as a line of ``RoutingRules/DecisionRecord`` JSON, for
/// `broker diff-rules` to replay. Bounded: when the file would pass its size it becomes
/// `FILE.1` (replacing the previous one) and a new `FILE` starts, so at most twice the size is
/// on disk.
///
/// The routing path only appends to a buffer; a thread of its own writes the buffer out every
/// 200 ms (or at 1 MiB), so a slow disk never holds a message. When the disk falls behind by
/// more than 16 MiB, lines are dropped and counted (``dropped``) rather than held in memory.
public final class DecisionRecorder: Sendable {
    public let path: String
    public let maximumSize: Int
    /// Whether lines carry the message (as `/decisions` shows them: `--decision-traces`).
    let includesMessages: Bool
    private let logger = Logger(label: "broker.record")

    private struct State {
        var buffer: [UInt8] = []
        var dropped = 0
        var stopped = false
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    static let flushAt = 1 << 20
    static let backlogLimit = 16 << 20

    /// Opens (appending to) `path`; throws when it cannot be written.
    public init(path: String, maximumSize: Int, includesMessages: Bool) throws {
        self.path = path
        self.maximumSize = max(4096, maximumSize)
        self.includesMessages = includesMessages
        if let problem = RegularFile.problem(at: path) { throw CannotRecord(path: path, reason: problem) }
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CannotRecord(path: path, reason: "cannot create the file")
            }
        }
        guard FileHandle(forWritingAtPath: path) != nil else {
            throw CannotRecord(path: path, reason: "cannot write to the file")
        }
        let thread = Thread { [self] in writeLoop() }
        thread.name = "broker-record"
        thread.start()
    }

    /// The record file could not be opened.
    public struct CannotRecord: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "--record \(path): \(reason)" }
    }

    /// Lines dropped because the disk fell behind.
    public var dropped: Int { state.withLock { $0.dropped } }

    func observe(_ record: RoutingRecord) {
        guard let line = record.recordLine(includesMessage: includesMessages) else { return }
        let full = state.withLock { s -> Bool in
            guard s.buffer.count + line.count <= Self.backlogLimit else {
                s.dropped += 1
                return false
            }
            s.buffer += line
            return s.buffer.count >= Self.flushAt
        }
        if full { wake.signal() }
    }

    /// ``close()`` without holding a task thread while the writer finishes.
    public func finish() async {
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.close()
                finished.resume()
            }
        }
    }

    /// Writes what is buffered and stops the writer (blocking until it has).
    public func close() {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return }
        wake.signal()
        done.wait()
    }

    private func writeLoop() {
        var written = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        while true {
            _ = wake.wait(timeout: .now() + .milliseconds(200))
            let (bytes, stopped) = state.withLock { s -> ([UInt8], Bool) in
                defer { s.buffer.removeAll(keepingCapacity: true) }
                return (s.buffer, s.stopped)
            }
            if !bytes.isEmpty { written = write(bytes, after: written) }
            if stopped { break }
        }
        done.signal()
    }

    /// Appends `bytes` (whole lines), rotating before a line that would take the file past its
    /// size (a line longer than the size gets a file of its own); returns the file's new size.
    private func write(_ bytes: [UInt8], after written: Int) -> Int {
        var size = written
        var start = bytes.startIndex  // the first byte not yet written
        var end = start  // the end of the lines that fit after `size`
        while end < bytes.endIndex {
            let next = (bytes[end...].firstIndex(of: 0x0A) ?? bytes.endIndex - 1) + 1
            if size + (next - start) > maximumSize && size + (end - start) > 0 {
                if end > start { size = append(bytes[start..<end], to: size) }
                rotate()
                size = 0
                start = end
            }
            end = next
        }
        return end > start ? append(bytes[start..<end], to: size) : size
    }

    private func rotate() {
        let previous = path + ".1"
        try? FileManager.default.removeItem(atPath: previous)
        do {
            try FileManager.default.moveItem(atPath: path, toPath: previous)
        } catch {
            logger.error("cannot rotate the record file", metadata: ["path": "\(path)", "error": "\(error)"])
        }
        if !FileManager.default.createFile(atPath: path, contents: nil) {
            logger.error("cannot start a new record file", metadata: ["path": "\(path)"])
        }
    }

    private func append(_ bytes: ArraySlice<UInt8>, to size: Int) -> Int {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            logger.error("cannot write the record file", metadata: ["path": "\(path)"])
            return size
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: bytes)
            return size + bytes.count
        } catch {
            logger.error("cannot write the record file", metadata: ["path": "\(path)", "error": "\(error)"])
            return size
        }
    }
}

extension RoutingRecord {
    /// The decision as a ``RoutingRules/DecisionRecord`` line (what `--record` writes and
    /// `/decisions?format=jsonl` shows); `nil` for what was not decided (not JSON, trimmed for
    /// size).
    func recordLine(includesMessage: Bool) -> [UInt8]? {
        guard let message, let snapshot, let decision else { return nil }
        return DecisionRecord.line(
            message: message, agents: DecisionRecord.namedAgents(message, decision, in: snapshot), decision: decision,
            seed: seed, at: at, ruleSet: ruleSet.hash, includesMessage: includesMessage)
    }
}
