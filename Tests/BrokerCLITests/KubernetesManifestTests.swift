import Foundation
import TestSupport
import Testing

/// `deploy/kubernetes/` checked offline and strictly (`scripts/check-kubernetes.py`): known keys
/// only, and the objects agree with each other and with the broker.
@Suite(.timeLimit(.minutes(10))) struct KubernetesManifestTests {
    func check(_ directory: String) async throws -> (status: Int32, output: String) {
        try await runCommand("/usr/bin/env", ["python3", "scripts/check-kubernetes.py", directory])
    }

    @Test func theShippedManifestsPassTheStrictCheck() async throws {
        let (status, output) = try await check("deploy/kubernetes")
        #expect(status == 0, "\(output)")
        #expect(output.contains("4 object(s) checked, 0 problem(s)"), "\(output)")
    }

    /// The worst case `broker run --memory-budget` states for the pods' settings, and for the
    /// defaults, fits the Deployment's memory limit with a fifth of it to spare.
    @Test func theWorstCaseMemoryFitsTheLimitWithRoom() async throws {
        let deployment = try String(
            contentsOf: repositoryRoot.appendingPathComponent("deploy/kubernetes/deployment.yaml"), encoding: .utf8)
        let limit = try #require(
            deployment.split(separator: "\n").first { $0.contains("limits:") }?.split(separator: "memory: ").last
                .flatMap { Int($0.prefix { $0.isNumber }) }, "no memory limit in deployment.yaml")
        for arguments in [
            ["run", "--memory-budget"], ["run", "--config", "deploy/kubernetes/broker.yaml", "--memory-budget"],
        ] {
            let (status, output) = try await runCommand(CLITests.binary.path, arguments)
            #expect(status == 0, "\(output)")
            let total = output.split(separator: "\n").last { $0.hasSuffix("in all") }
                .flatMap { Int($0.split(separator: " ").first ?? "") }
            let worst = try #require(total, "\(output)")
            #expect(
                worst * 5 <= limit * 4, "\(arguments): \(worst) MiB worst case against a \(limit) MiB limit:\n\(output)"
            )
        }
    }

    /// A copy of the manifests with `edit` applied to one file.
    func edited(_ file: String, _ edit: (String) -> String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("k8s-\(UUID())")
        try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("deploy/kubernetes"), to: directory)
        let kustomization = directory.appendingPathComponent("kustomization.yaml")
        try String(contentsOf: kustomization, encoding: .utf8).replacingOccurrences(
            of: "../../rules/", with: repositoryRoot.appendingPathComponent("rules").path + "/"
        ).write(to: kustomization, atomically: true, encoding: .utf8)
        let target = directory.appendingPathComponent(file)
        try edit(try String(contentsOf: target, encoding: .utf8)).write(to: target, atomically: true, encoding: .utf8)
        return directory
    }

    @Test(arguments: [
        ("deployment.yaml", "readinessProbe:", "readinesProbe:", "unknown key 'readinesProbe'"),
        ("deployment.yaml", "path: /readyz", "path: /ready", "asks /ready, which the admin server does not serve"),
        (
            "broker.yaml", "drain-timeout: 20", "drain-timeout: 45",
            "terminationGracePeriodSeconds 30 must exceed drain-timeout 45"
        ),
        ("broker.yaml", "rules: /etc/broker/rules", "rules: /rules", "broker.yaml reads /rules"),
        ("broker.yaml", "admin-address: 0.0.0.0:7391", "admin-address: 127.0.0.1:7391", "must listen beyond loopback"),
    ])
    func aMistakeIsCaught(file: String, original: String, replacement: String, problem: String) async throws {
        let directory = try edited(file) {
            #expect($0.contains(original))
            return $0.replacingOccurrences(of: original, with: replacement)
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let (status, output) = try await check(directory.path)
        #expect(status == 1, "\(output)")
        #expect(output.contains(problem), "\(output)")
    }
}
