import Foundation
import Testing

/// A certificate authority made for one test run with `openssl` (installed by `make test`), and
/// a server certificate it signed for `127.0.0.1` and `localhost`.
public struct TestCertificates: Sendable {
    /// The CA certificate (PEM): the trust root a client is given.
    public let caCertificate: String
    /// The server's certificate chain and private key (PEM).
    public let serverCertificate: String
    public let serverKey: String
    let directory: URL

    /// Makes a CA named `name` and a server certificate in a fresh temporary directory.
    /// `openssl` runs as a child process that no cooperative thread waits for.
    public init(name: String = "broker test CA", sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("broker-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        let path = { (file: String) in directory.appendingPathComponent(file).path }
        caCertificate = path("ca.pem")
        serverCertificate = path("server.pem")
        serverKey = path("server.key")
        let extensions = path("server.ext")
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".write(
            toFile: extensions, atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let steps: [[String]] = [
            ["req", "-x509"] + ec + [
                "-keyout", path("ca.key"), "-out", caCertificate, "-days", "2", "-subj", "/CN=\(name)",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            ],
            ["req"] + ec + ["-keyout", serverKey, "-out", path("server.csr"), "-subj", "/CN=127.0.0.1"],
            [
                "x509", "-req", "-in", path("server.csr"), "-CA", caCertificate, "-CAkey", path("ca.key"),
                "-CAcreateserial", "-out", serverCertificate, "-days", "2", "-extfile", extensions,
            ],
        ]
        for arguments in steps {
            let (status, output) = try await runCommand("/usr/bin/env", ["openssl"] + arguments, in: directory)
            try #require(status == 0, "openssl \(arguments.first ?? ""): \(output)", sourceLocation: sourceLocation)
        }
    }

    /// Removes the files.
    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
