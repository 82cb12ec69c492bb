import Foundation
import Glibc
import Logging
import Synchronization

/// Watches the rule files' directories with inotify and calls back, debounced, when they change.
///
/// Directories are watched (not files), so editors that write a new file and rename it over the
/// old one, and Kubernetes ConfigMaps that swap a `..data` symlink, are both seen. Only
/// completed writes count (closed after writing, renamed, created, deleted), so the debounce
/// only has to gather the steps of one save or checkout: 15 ms by default. The callback runs on
/// the watcher's thread.
public final class RuleWatcher: @unchecked Sendable {
    private let fd: Int32
    private let debounce: Duration
    private let onChange: @Sendable () -> Void
    private let stopped = Atomic(false)
    private let logger: Logger

    /// Starts watching the directories of `paths` (a directory is watched itself).
    public init(
        paths: [String], debounce: Duration = .milliseconds(15), logger: Logger = Logger(label: "broker.rules.watch"),
        onChange: @escaping @Sendable () -> Void
    ) throws {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw WatchError(message: "inotify_init1 failed: errno \(errno)") }
        self.debounce = debounce
        self.onChange = onChange
        self.logger = logger
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
        var directories: Set<String> = []
        for path in paths {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            directories.insert(
                isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent.nonEmpty ?? ".")
        }
        for directory in directories where inotify_add_watch(fd, directory, mask) < 0 {
            throw WatchError(message: "cannot watch \(directory): errno \(errno)")
        }
        let thread = Thread { [self] in self.loop() }
        thread.name = "rule-watcher"
        thread.start()
    }

    struct WatchError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    deinit { close(fd) }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var pendingSince: ContinuousClock.Instant?
        while !stopped.load(ordering: .relaxed) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            // Wake exactly when a pending debounce expires, else every 50 ms to notice stop().
            var timeout: Int32 = 50
            if let since = pendingSince {
                let remaining = debounce - (ContinuousClock.now - since)
                timeout = max(
                    1,
                    Int32(remaining.components.attoseconds / 1_000_000_000_000_000)
                        + Int32(remaining.components.seconds * 1000))
            }
            let ready = poll(&poller, 1, timeout)
            if ready > 0 {
                // Drain the events; which file changed does not matter: the rule set reloads whole.
                while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
                pendingSince = .now
            }
            if let since = pendingSince, ContinuousClock.now - since >= debounce {
                pendingSince = nil
                onChange()
            }
        }
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
