import Foundation
import TestSupport
import Testing

/// `make deb` as an operator runs it: the package holds the binary, the unit, the settings as
/// conffiles and the documentation; its version is the binary's; its dependencies are what the
/// binary links; lintian finds no error in it; and `apt install` puts it into a fresh Debian
/// root (made with debootstrap from the machine's own Debian mirror) as it should.
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

        try await installIntoAFreshDebianRoot(package)
    }

    /// Installs the package with apt into a minimal Debian root of the machine's release: the
    /// user, the secrets file's group, the unit enabled and nothing started; a purge leaves no
    /// settings behind. In the same root, `make test`'s install step puts rabbitmq-server there
    /// without a node running or a unit enabled. Root only (debootstrap and chroot need it;
    /// `sudo -n` otherwise).
    func installIntoAFreshDebianRoot(_ package: String) async throws {
        let root = temporaryPath("debian-root")
        defer { _ = try? runCommandBlocking("/usr/bin/env", Self.asRoot(["rm", "-rf", root.path])) }
        let release =
            try String(contentsOfFile: "/etc/os-release", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("VERSION_CODENAME=") }?.dropFirst("VERSION_CODENAME=".count) ?? "bookworm"
        let made = try await privileged(["debootstrap", "--variant=minbase", String(release), root.path, Self.mirror()])
        try #require(made.status == 0, "debootstrap: \(made.output.suffix(2000))")
        #expect(try await privileged(["cp", package, root.appendingPathComponent("tmp/broker.deb").path]).status == 0)
        let script = repositoryRoot.appendingPathComponent("scripts/install-deps.sh").path
        #expect(try await privileged(["cp", script, root.appendingPathComponent("tmp/").path]).status == 0)
        func inRoot(_ command: String) async throws -> (status: Int32, output: String) {
            try await privileged(["chroot", root.path, "/bin/bash", "-c", command])
        }
        let installed = try await inRoot(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/broker.deb")
        #expect(installed.status == 0, "\(installed.output.suffix(2000))")
        let state = try await inRoot(
            """
            dpkg-query -W -f='${Status}\\n' broker; getent passwd broker | cut -d: -f1,6,7
            stat -c '%a %G' /etc/broker/broker.env
            readlink /etc/systemd/system/multi-user.target.wants/broker.service
            """)
        #expect(
            state.output.split(separator: "\n").map(String.init) == [
                "install ok installed", "broker:/var/lib/broker:/usr/sbin/nologin", "640 broker",
                "/lib/systemd/system/broker.service",
            ], "\(state.output)")
        #expect(try await processesIn(root).isEmpty, "the install started the broker")
        let purged = try await inRoot(
            "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq broker >/dev/null && ls /etc/broker 2>&1; ls /etc/systemd/system/multi-user.target.wants/"
        )
        #expect(purged.output.contains("No such file") && !purged.output.contains("broker.service"), "\(purged.output)")

        // make test's install step on a machine without RabbitMQ: no node, no unit enabled.
        let quiet = try await inRoot("source /tmp/install-deps.sh && install_quietly rabbitmq-server systemd")
        #expect(quiet.status == 0, "\(quiet.output.suffix(2000))")
        let services = try await inRoot(
            "systemctl is-enabled rabbitmq-server.service epmd.service epmd.socket; ls /usr/sbin/policy-rc.d 2>&1")
        #expect(
            services.output.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("ls:") } == [
                "disabled", "disabled", "disabled",
            ], "\(services.output)")
        #expect(try await processesIn(root).isEmpty, "the install started a RabbitMQ node or epmd")
        #expect(services.output.contains("No such file"), "the install's policy-rc.d was left behind")
    }

    /// The processes whose root is `root` (started inside it), as `pid command` lines.
    func processesIn(_ root: URL) async throws -> [String] {
        let script = """
            for proc in /proc/[0-9]*; do
              [ "$(readlink "$proc/root" 2>/dev/null)" = "$1" ] && echo "${proc#/proc/} $(tr '\\0' ' ' < "$proc/cmdline")"
            done; true
            """
        let (_, output) = try await privileged(["sh", "-c", script, "sh", root.path])
        return output.split(separator: "\n").map(String.init)
    }

    /// The machine's Debian mirror (deb.debian.org when it names none).
    static func mirror() -> String {
        let sources = (try? String(contentsOfFile: "/etc/apt/sources.list.d/debian.sources", encoding: .utf8)) ?? ""
        let uri = sources.split(separator: "\n").first { $0.hasPrefix("URIs:") && !$0.contains("security") }
        return uri.map { String($0.dropFirst("URIs:".count)).trimmingCharacters(in: .whitespaces) }
            ?? "http://deb.debian.org/debian"
    }

    /// `arguments` as root: as they are when the tests run as root, else through `sudo -n`.
    static func asRoot(_ arguments: [String]) -> [String] { (getuid() == 0 ? [] : ["sudo", "-n"]) + arguments }

    /// Runs `arguments` as root (waiting off the cooperative pool).
    func privileged(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runCommand("/usr/bin/env", Self.asRoot(arguments))
    }

    func architecture() async throws -> String {
        try await runCommand("/usr/bin/dpkg", ["--print-architecture"]).output.trimmingCharacters(
            in: .whitespacesAndNewlines)
    }
}
