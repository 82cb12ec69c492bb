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

    /// `error` as a user can act on it: a TLS certificate that failed verification says so and
    /// what to check first, with the library's text after it.
    public static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        guard text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("unableToValidateCertificate") else {
            return text
        }
        return
            "the server's TLS certificate is not trusted: not signed by the CA given (--server-ca, else the system's roots), or not issued for this host name or address (\(text))"
    }
}
