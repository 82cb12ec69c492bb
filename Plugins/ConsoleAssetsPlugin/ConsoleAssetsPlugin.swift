import Foundation
import PackagePlugin

/// Puts the admin console's static files into the binary: writes `ConsoleAssets.generated.swift`
/// with one string constant per file of the target's `Console/Assets` directory (`console.js`
/// becomes `ConsoleAssets.consoleJS`), so the daemon serves them without reading the disk.
///
/// `scripts/embed-files.sh` writes it: each file becomes a raw string literal, and a file that
/// would end or escape one fails the build with its name.
@main
struct ConsoleAssetsPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let directory = target.directoryURL.appendingPathComponent("Console/Assets")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }
            .sorted()
        let inputs = names.map { directory.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("ConsoleAssets.generated.swift")
        let script = context.package.directoryURL.appendingPathComponent("scripts/embed-files.sh")
        return [
            .buildCommand(
                displayName: "Embedding the console's files in \(target.name)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, output.path, "ConsoleAssets"] + inputs.map(\.path),
                inputFiles: inputs + [script], outputFiles: [output])
        ]
    }
}
