import Foundation
import TestSupport
import Testing

/// The release binary (`make release`, built by `make test` before the tests) runs where the
/// system libraries are: it needs no library of the Swift toolchain that built it.
@Suite(.timeLimit(.minutes(10))) struct StaticBinaryTests {
    let binary = repositoryRoot.appendingPathComponent(".build/release/broker")

    func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> (
        status: Int32, output: String
    ) {
        try await runCommand(executable, arguments, environment: environment)
    }

    /// The toolchain's root (`/opt/swift` here): two levels above the `swift` driver.
    var toolchain: String {
        get async throws {
            let (_, path) = try await run("/usr/bin/env", ["sh", "-c", "readlink -f \"$(command -v swift)\""])
            return URL(fileURLWithPath: path.trimmingCharacters(in: .whitespacesAndNewlines))
                .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        }
    }

    @Test func theReleaseBinaryLinksNothingFromTheToolchain() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: binary.path),
            "no release binary at \(binary.path): run `make release` (make test does)")
        let root = try await toolchain
        let (lddStatus, libraries) = try await run("/usr/bin/ldd", [binary.path])
        #expect(lddStatus == 0, "\(libraries)")
        #expect(!libraries.contains(root), "libraries from the toolchain (\(root)):\n\(libraries)")
        #expect(!libraries.contains("not found"), "\(libraries)")
        #expect(libraries.contains("librabbitmq"))
        let (_, dynamic) = try await run("/usr/bin/env", ["readelf", "-d", binary.path])
        let searchPaths = dynamic.split(separator: "\n").filter { $0.contains("RUNPATH") || $0.contains("RPATH") }
        #expect(searchPaths.allSatisfy { !$0.contains(root) && !$0.contains("swift") }, "\(searchPaths)")
        let (status, version) = try await run(binary.path, ["--version"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(status == 0)
        #expect(version.contains("commit "), "\(version)")
    }

    @Test func itRunsWithTheToolchainsRuntimeHidden() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "run `make release` first")
        let runtime = try await toolchain + "/usr/lib/swift/linux"
        // As root, hide the runtime directory behind an empty one in a mount namespace of its own;
        // otherwise the loader is kept from every toolchain path by an empty environment.
        let hide =
            getuid() == 0
            ? "unshare -m sh -c 'mount -t tmpfs none \(runtime) && \(binary.path) --version && ls \(runtime) | wc -l'"
            : "env -i PATH=/usr/bin:/bin \(binary.path) --version && echo 0"
        let (status, output) = try await run("/bin/sh", ["-c", hide])
        #expect(status == 0, "\(output)")
        #expect(output.contains("commit "), "\(output)")
        #expect(output.split(separator: "\n").last == "0", "the runtime directory was not hidden: \(output)")
    }

    /// `make install` builds the static release first unless the binary there is it, and current:
    /// a binary from a plain `swift build -c release` (linking the toolchain's runtime) or one
    /// older than the sources is never installed as it is.
    @Test func makeInstallNeverInstallsADynamicOrOutdatedBinary() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: binary.path), "run `make release` first")
        let script = repositoryRoot.appendingPathComponent("scripts/release-is-current.sh").path
        let current = try await run("/bin/bash", [script, binary.path])
        #expect(current.status == 0, "the static release binary of make test: \(current.output)")

        let directory = temporaryPath("release-check")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The debug build links the toolchain's runtime as a plain release build does.
        let dynamic = directory.appendingPathComponent("dynamic")
        try FileManager.default.copyItem(at: CLITests.binary, to: dynamic)
        let refused = try await run("/bin/bash", [script, dynamic.path])
        #expect(refused.status == 1)
        #expect(refused.output.contains("links the Swift runtime dynamically"), "\(refused.output)")

        let old = directory.appendingPathComponent("old")
        try FileManager.default.copyItem(at: binary, to: old)
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: old.path)
        let outdated = try await run("/bin/bash", [script, old.path])
        #expect(outdated.status == 1)
        #expect(outdated.output.contains("is newer than"), "\(outdated.output)")
        let missing = try await run("/bin/bash", [script, directory.appendingPathComponent("none").path])
        #expect(missing.status == 1)
        let makefile = try String(contentsOf: repositoryRoot.appendingPathComponent("Makefile"), encoding: .utf8)
        #expect(makefile.contains("install: release-current"))
    }

    @Test func makeInstallHonoursDestdirAndPrefix() async throws {
        let destination = temporaryPath("install")
        defer { try? FileManager.default.removeItem(at: destination) }
        let (status, output) = try await run(
            "/usr/bin/env", ["make", "-s", "install", "DESTDIR=\(destination.path)", "PREFIX=/usr", "SYSCONFDIR=/etc"])
        #expect(status == 0, "\(output)")
        let files = [
            "usr/bin/broker", "usr/lib/systemd/system/broker.service", "etc/broker/rules/default.yaml",
            "etc/broker/broker.yaml.example", "etc/broker/broker.env.example",
        ]
        for file in files {
            #expect(FileManager.default.fileExists(atPath: destination.appendingPathComponent(file).path), "\(file)")
        }
        let unit = try String(
            contentsOf: destination.appendingPathComponent("usr/lib/systemd/system/broker.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/broker run"))
        #expect(!unit.split(separator: "\n").contains { !$0.hasPrefix("#") && $0.contains("/usr/local/") })
    }
}
