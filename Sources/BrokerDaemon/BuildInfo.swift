/// What `broker --version` prints.
public enum BuildInfo {
    /// The release this source tree is.
    public static let version = "0.9.0"
    /// The commit it was built from (see `Plugins/BuildInfoPlugin`).
    public static let commit = buildCommit
    /// `0.9.0 (commit 1fd96c7a2b3c)`.
    public static var versionLine: String { "\(version) (commit \(commit))" }
}
