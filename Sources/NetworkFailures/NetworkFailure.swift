import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Kinds of network failure that clients treat differently when they retry.
public enum NetworkFailure {
    /// Whether `error` means that nothing listens at the address: every connect attempt was
    /// refused. Such a failure is cheap to retry (a loopback or LAN round trip), unlike a server
    /// that accepted the connection and then failed.
    public static func isConnectionRefused(_ error: any Error) -> Bool {
        if let error = error as? NIOConnectionError {
            return !error.connectionErrors.isEmpty
                && error.connectionErrors.allSatisfy { isConnectionRefused($0.error) }
        }
        return (error as? IOError)?.errnoCode == ECONNREFUSED
    }
}
