import Foundation
import TestSupport
import Testing

/// `make test` installs Debian's rabbitmq-server when it is missing; its install scripts would
/// start and enable a system node on 0.0.0.0:5672. `scripts/install-deps.sh` leaves the machine's
/// services as they were: this runs its install step against an `apt-get` and a `systemctl`
/// that behave like Debian's (the package enables its units; a policy-rc.d decides whether it
/// may start them), in a directory of the test's own.
@Suite(.timeLimit(.minutes(10))) struct InstallDepsTests {
    @Test func installingRabbitMQStartsNoServiceAndLeavesEnabledOnlyWhatWasEnabledBefore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("install-deps-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let dir = directory.path
        let stubs = [
            // The package's install: asks the policy whether it may start its daemon, then
            // enables its units (as deb-systemd-helper does whatever the policy says).
            "apt-get": """
            #!/bin/sh
            echo "$*" >> \(dir)/apt.log
            if [ -x "$POLICY_RC_D" ] && ! "$POLICY_RC_D" rabbitmq-server start; then echo refused > \(dir)/start
            else echo started > \(dir)/start; fi
            touch \(dir)/enabled.rabbitmq-server.service \(dir)/enabled.epmd.socket
            """,
            "systemctl": """
            #!/bin/sh
            case "$1" in
              is-enabled) [ -e "\(dir)/enabled.$3" ] ;;
              is-active) exit 1 ;;
              disable) rm -f "\(dir)/enabled.$3" ;;
              *) exit 0 ;;
            esac
            """,
            "sudo": "#!/bin/sh\nexec \"$@\"\n",
        ]
        for (name, text) in stubs {
            let file = bin.appendingPathComponent(name)
            try text.write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
        // Erlang's epmd socket was enabled on this machine before: it stays.
        _ = FileManager.default.createFile(atPath: "\(dir)/enabled.epmd.socket", contents: nil)
        let script = repositoryRoot.appendingPathComponent("scripts/install-deps.sh").path
        let policy = "\(dir)/policy-rc.d"
        let run = try await runCommand(
            "/bin/bash", ["-c", "source '\(script)' && install_quietly rabbitmq-server"],
            environment: ["PATH": "\(bin.path):/usr/bin:/bin", "POLICY_RC_D": policy])
        #expect(run.status == 0, "\(run.output)")
        #expect(try String(contentsOfFile: "\(dir)/start", encoding: .utf8) == "refused\n", "a daemon was started")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/enabled.rabbitmq-server.service"), "\(run.output)")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/enabled.epmd.socket"))
        #expect(!FileManager.default.fileExists(atPath: policy), "the policy-rc.d of the install was left behind")
        #expect(run.output.contains("disabling rabbitmq-server.service"))
    }
}
