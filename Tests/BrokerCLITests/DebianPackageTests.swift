import Foundation
import TestSupport
import Testing

/// `make deb` as an operator runs it: the package holds the binary, the unit, the settings as
/// conffiles and the documentation; its version is the binary's; its dependencies are what the
/// binary links; lintian finds no error in it. (Installing it needs a Debian root of its own,
/// which the tests do not build.)
@Suite(.timeLimit(.minutes(10))) struct DebianPackageTests {
    @Test func makeDebBuildsAPackageLintianAccepts() async throws {
        let directory = temporaryPath("deb")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (status, output) = try await runCommand("/usr/bin/env", ["make", "-s", "deb", "DEB_DIR=\(directory.path)"])
        #expect(status == 0, "\(output)")
        let built = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".deb") }
        let name = try #require(built.first, "no package in \(directory.path): \(output)")
        let package = directory.appendingPathComponent(name).path

        // Metadata: the binary's version (a pre-release with ~), its libraries, adduser.
        let (_, fields) = try await runCommand("/usr/bin/dpkg-deb", ["-f", package, "Package", "Version", "Depends"])
        let (_, line) = try await runCommand(
            repositoryRoot.appendingPathComponent(".build/release/broker").path, ["--version"])
        let semantic = String(line.split(separator: " ")[0])
        let version = semantic.replacing("-", with: "~", maxReplacements: 1).replacing("-", with: ".")
        #expect(fields.contains("Package: broker"), "\(fields)")
        #expect(fields.contains("Version: \(version)\n"), "\(fields) for \(semantic)")
        #expect(name == "broker_\(version)_\(try await architecture()).deb")
        for dependency in ["adduser", "libc6", "librabbitmq4", "libyaml-0-2"] {
            #expect(fields.contains(dependency), "\(dependency) missing from \(fields)")
        }

        // Contents, the unit pointing at the packaged binary, and the conffiles.
        let (_, contents) = try await runCommand("/usr/bin/dpkg-deb", ["-c", package])
        for file in [
            "./usr/bin/broker", "./lib/systemd/system/broker.service", "./etc/broker/broker.yaml",
            "./etc/broker/broker.env", "./etc/broker/rules/default.yaml", "./usr/share/man/man1/broker.1.gz",
            "./usr/share/doc/broker/copyright", "./usr/share/doc/broker/changelog.gz",
        ] {
            #expect(contents.contains(file), "\(file) missing")
        }
        let (_, conffiles) = try await runCommand("/usr/bin/dpkg-deb", ["-I", package, "conffiles"])
        #expect(
            conffiles.split(separator: "\n").sorted()
                == ["/etc/broker/broker.env", "/etc/broker/broker.yaml", "/etc/broker/rules/default.yaml"])
        let extracted = directory.appendingPathComponent("root")
        #expect(try await runCommand("/usr/bin/dpkg-deb", ["-x", package, extracted.path]).status == 0)
        let unit = try String(
            contentsOf: extracted.appendingPathComponent("lib/systemd/system/broker.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/broker run"))
        // The man page is the binary's help: every command has its section.
        let (_, page) = try await runCommand(
            "/bin/sh", ["-c", "zcat '\(extracted.path)/usr/share/man/man1/broker.1.gz'"])
        for command in ["run", "validate-rules", "test-rules", "explain", "diff-rules"] {
            #expect(page.contains(".SS \(command)\n"), "no section for \(command)")
        }
        let (_, postinst) = try await runCommand("/usr/bin/dpkg-deb", ["-I", package, "postinst"])
        #expect(postinst.contains("adduser --system") && !postinst.contains("deb-systemd-invoke start"))

        // lintian: no errors (the one warning kept: broker.env holds secrets, so it is 0640).
        let (_, lint) = try await runCommand("/usr/bin/env", ["lintian", "--tag-display-limit", "0", package])
        let findings = lint.split(separator: "\n").filter { $0.hasPrefix("E:") || $0.hasPrefix("W:") }
        #expect(findings.allSatisfy { !$0.hasPrefix("E:") }, "\(lint)")
        #expect(
            findings.allSatisfy { $0.contains("non-standard-file-perm 0640 != 0644 [etc/broker/broker.env]") },
            "\(lint)")
    }

    func architecture() async throws -> String {
        try await runCommand("/usr/bin/dpkg", ["--print-architecture"]).output.trimmingCharacters(
            in: .whitespacesAndNewlines)
    }
}
