import Foundation
import TestSupport
import Testing

/// `make image` as an operator runs it: an OCI image whose layout is sound (every blob is what
/// its digest says), whose config runs the broker as a non-root user with the admin port and
/// the version labels, and whose one layer holds every library the binary loads: the binary
/// runs with the image's files alone. (Running it in a container runtime is not tried: none can
/// start a container on this machine.)
@Suite(.timeLimit(.minutes(10))) struct ContainerImageTests {
    @Test func makeImageBuildsAnImageThatRunsOnItsOwnFiles() async throws {
        let directory = temporaryPath("image")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (status, output) = try await runCommand(
            "/usr/bin/env", ["make", "-s", "image", "IMAGE_DIR=\(directory.path)"])
        #expect(status == 0, "\(output)")
        let layout = directory.appendingPathComponent("broker.oci")
        func blob(_ descriptor: [String: Any]) async throws -> Data {
            let digest = try #require(descriptor["digest"] as? String)
            let file = layout.appendingPathComponent("blobs/sha256/\(digest.dropFirst("sha256:".count))")
            let data = try Data(contentsOf: file)
            let (_, sum) = try await runCommand("/usr/bin/sha256sum", [file.path])
            #expect("sha256:" + (sum.split(separator: " ").first ?? "") == digest)
            #expect(descriptor["size"] as? Int == data.count)
            return data
        }
        func object(_ data: Data) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        }

        let index = try object(Data(contentsOf: layout.appendingPathComponent("index.json")))
        let manifests = try #require(index["manifests"] as? [[String: Any]])
        let manifest = try object(await blob(try #require(manifests.first)))
        let config = try object(await blob(try #require(manifest["config"] as? [String: Any])))
        let settings = try #require(config["config"] as? [String: Any])
        let (_, versionLine) = try await runCommand(
            repositoryRoot.appendingPathComponent(".build/release/broker").path, ["--version"])
        let version = String(versionLine.split(separator: " ")[0])
        #expect(settings["User"] as? String == "65532:65532")
        #expect(settings["Entrypoint"] as? [String] == ["/usr/bin/broker"])
        #expect(settings["Cmd"] as? [String] == ["run", "--config", "/etc/broker/broker.yaml"])
        #expect((settings["ExposedPorts"] as? [String: Any])?.keys.sorted() == ["7391/tcp"])
        let labels = try #require(settings["Labels"] as? [String: String])
        #expect(labels["org.opencontainers.image.version"] == version)
        #expect(labels["org.opencontainers.image.licenses"] == "Apache-2.0")
        #expect(versionLine.contains("commit \(labels["org.opencontainers.image.revision"] ?? "?")"))

        // The layer: unpacked, the binary runs with the image's loader and libraries only.
        let layers = try #require(manifest["layers"] as? [[String: Any]])
        let layer = directory.appendingPathComponent("layer.tar.gz")
        try await blob(try #require(layers.first)).write(to: layer)
        let root = directory.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let unpacked = try await runCommand("/bin/tar", ["-xzf", layer.path, "-C", root.path, "--no-same-owner"])
        #expect(unpacked.status == 0, "\(unpacked.output)")
        let (_, listing) = try await runCommand("/bin/tar", ["-tvzf", layer.path])
        #expect(
            listing.split(separator: "\n").contains { $0.contains("65532/65532") && $0.hasSuffix(" var/lib/broker/") })
        let passwd = try String(contentsOf: root.appendingPathComponent("etc/passwd"), encoding: .utf8)
        #expect(passwd.contains("broker:x:65532:65532:"))
        let loaded = try await runCommand(
            root.appendingPathComponent("lib64/ld-linux-x86-64.so.2").path,
            [
                "--library-path", root.appendingPathComponent("lib/x86_64-linux-gnu").path,
                root.appendingPathComponent("usr/bin/broker").path, "--version",
            ],
            environment: ["LD_DEBUG": "libs"])
        #expect(
            loaded.status == 0 && loaded.output.contains(versionLine.trimmingCharacters(in: .whitespacesAndNewlines)))
        let initialised = loaded.output.split(separator: "\n").filter { $0.contains("calling init:") }
        #expect(initialised.count >= 5, "\(loaded.output.suffix(2000))")
        for line in initialised {
            #expect(line.contains(root.path), "loaded from outside the image: \(line)")
        }
    }
}
