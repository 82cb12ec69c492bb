import BrokerDaemon
import Foundation
import InMemoryTransport
import TestSupport
import Testing

/// Rules mounted from a Kubernetes ConfigMap (deploy/kubernetes/): the kubelet never rewrites a
/// file; it writes a new timestamped directory and swaps the `..data` symlink the visible files
/// point through. The daemon must see that swap as a change.
@Suite(.timeLimit(.minutes(10))) struct ConfigMapReloadTests {
    /// Writes `text` as the ConfigMap's `routes.yaml` in a new version directory and points
    /// `..data` at it atomically, as the kubelet's atomic writer does.
    func publish(_ text: String, version: Int, in directory: URL) throws {
        let manager = FileManager.default
        let versionDirectory = directory.appendingPathComponent("..2026_12_01_00_00_0\(version).\(version)")
        try manager.createDirectory(at: versionDirectory, withIntermediateDirectories: true)
        try text.write(to: versionDirectory.appendingPathComponent("routes.yaml"), atomically: false, encoding: .utf8)
        let staging = directory.appendingPathComponent("..data_tmp")
        try? manager.removeItem(at: staging)
        try manager.createSymbolicLink(atPath: staging.path, withDestinationPath: versionDirectory.lastPathComponent)
        #expect(rename(staging.path, directory.appendingPathComponent("..data").path) == 0)
        let visible = directory.appendingPathComponent("routes.yaml")
        if (try? manager.destinationOfSymbolicLink(atPath: visible.path)) == nil {
            try manager.createSymbolicLink(atPath: visible.path, withDestinationPath: "..data/routes.yaml")
        }
    }

    @Test func aConfigMapUpdateIsReloaded() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try publish(rules(version: "one"), version: 1, in: directory)
        let daemon = try memoryDaemon(rulesDirectory: directory, queues: InMemoryQueues())
        let running = Task { try await daemon.run() }
        try await eventually("the admin server listens") { daemon.admin.port != 0 }
        #expect(daemon.reloader.holder.current.routeNames == ["stamp-one"])
        try publish(rules(version: "two"), version: 2, in: directory)
        try await eventually("the symlink swap is picked up") {
            daemon.reloader.holder.current.routeNames == ["stamp-two"]
        }
        daemon.stop()
        try await running.value
    }
}
