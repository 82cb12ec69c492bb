import Foundation
import PackagePlugin

/// Stamps a target with the version and commit it is built from: before every build, writes
/// `BuildInfo.generated.swift` with
/// - `buildCommit`: the short hash of `HEAD`, with `-dirty` when the work tree has changes, or
///   `unknown` outside a git checkout;
/// - `buildVersion`: the `VERSION` file's semantic version when `HEAD` is its tag `vVERSION`
///   and clean, else a pre-release of it that sorts after the commits before:
///   `0.10.0-dev.N+COMMIT`, N the commits since the last `v*` tag (or since the start).
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("BuildInfo.generated.swift")
        let script = """
            cd "$1" 2>/dev/null || exit 1
            commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- Sources Package.swift VERSION 2>/dev/null; then
              commit="$commit-dirty"
            fi
            release=$(tr -d ' \\n' < VERSION 2>/dev/null || echo 0.0.0)
            if [ "$commit" = unknown ]; then
              version="$release-dev"
            elif [ "$(git describe --tags --exact-match --match "v$release" 2>/dev/null)" = "v$release" ] &&
              [ "${commit%-dirty}" = "$commit" ]; then
              version="$release"
            else
              last=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null)
              if [ -n "$last" ]; then count=$(git rev-list --count "$last..HEAD"); else count=$(git rev-list --count HEAD); fi
              version="$release-dev.$count+$commit"
            fi
            {
              printf '/// The commit this binary was built from (written by BuildInfoPlugin).\\n'
              printf 'public let buildCommit = "%s"\\n' "$commit"
              printf '/// The version this binary is (written by BuildInfoPlugin from VERSION and git).\\n'
              printf 'public let buildVersion = "%s"\\n' "$version"
            } > "$2.tmp"
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
