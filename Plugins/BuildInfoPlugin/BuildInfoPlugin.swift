import Foundation
import PackagePlugin

/// Stamps a target with the commit it is built from: before every build, writes
/// `BuildInfo.generated.swift` with `buildCommit` (the short hash of `HEAD`, with `-dirty` when
/// the work tree has changes, or `unknown` outside a git checkout).
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("BuildInfo.generated.swift")
        let script = """
            cd "$1" 2>/dev/null || exit 1
            commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- Sources Package.swift 2>/dev/null; then
              commit="$commit-dirty"
            fi
            printf '/// The commit this binary was built from (written by BuildInfoPlugin).\\npublic let buildCommit = "%s"\\n' "$commit" > "$2.tmp"
            cmp -s "$2.tmp" "$2" || mv "$2.tmp" "$2"
            rm -f "$2.tmp"
            """
        return [
            .prebuildCommand(
                displayName: "Stamping \(target.name) with its commit",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "sh", context.package.directoryURL.path, output.path],
                outputFilesDirectory: context.pluginWorkDirectoryURL)
        ]
    }
}
