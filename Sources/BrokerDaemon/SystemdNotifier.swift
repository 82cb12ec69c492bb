import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Tells systemd what the broker is doing, over the datagram socket in `NOTIFY_SOCKET`
/// (`Type=notify`): `READY=1` once it routes, `RELOADING=1` … `READY=1` around a rule reload,
/// `STOPPING=1` when it drains, and a `STATUS=` line for `systemctl status`. Without
/// `NOTIFY_SOCKET` (not started by systemd) it does nothing.
public struct SystemdNotifier: Sendable {
    private let path: String

    /// The notifier of this process's environment, if systemd asked for notifications.
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        self.path = path
    }

    /// Sends `state` (`KEY=value` lines); failures are ignored, as sd_notify(3) does.
    public func send(_ state: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // A leading '@' names an abstract socket: its first byte is NUL.
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let message = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, socketAddress, length) }
            }
        }
    }

    /// `RELOADING=1` with the monotonic time systemd wants beside it.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        send("RELOADING=1\nMONOTONIC_USEC=\(Int(now.tv_sec) * 1_000_000 + now.tv_nsec / 1000)")
    }
}
