/// What `broker --version` prints and `broker_build_info` says.
public enum BuildInfo {
    /// The semantic version of this build: the `VERSION` file's at its release tag, else a
    /// pre-release of it (`0.10.0-dev.12+1fd96c7a2b3c`; see `Plugins/BuildInfoPlugin`).
    public static let version = buildVersion
    /// The commit it was built from (see `Plugins/BuildInfoPlugin`).
    public static let commit = buildCommit
    /// `0.10.0 (commit 1fd96c7a2b3c)`.
    public static var versionLine: String { "\(version) (commit \(commit))" }
}
