import ArgumentParser

/// The rules toolchain: the commands that check, test and explain rule files.
///
/// They need only the rule engine, so they are offered twice: as subcommands of `broker`, and as
/// the small `broker-rules` executable that a rules-only repository can build in CI without the
/// daemon's transports (gRPC, TLS, HTTP, RabbitMQ).
public enum RulesToolchain {
    /// `validate-rules`, `test-rules`, `explain` and `diff-rules`.
    public static let commands: [any ParsableCommand.Type] = [
        ValidateRules.self, TestRules.self, Explain.self, DiffRules.self,
    ]
}
