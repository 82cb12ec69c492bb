import ArgumentParser
import BrokerApp
import BrokerDaemon
import CStartup
import Foundation
import RulesCommands

/// The `broker` command: the daemon and the rules toolchain. The simulator, the demo and the
/// benchmarks are `broker-dev`'s.
struct Broker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "A declarative message router for multi-agent systems.",
        discussion: """
            Routing decisions come from YAML rule files. Check them with validate-rules, test them with test-rules, see why a message goes where it goes with explain, and compare two rule sets on recorded traffic with diff-rules. run is the daemon.
            """,
        version: BuildInfo.versionLine,
        subcommands: [RunCommand<StandardTransports>.self] + RulesToolchain.commands
    )
}

@main
enum BrokerMain {
    static func main() async {
        // A SIGHUP before `broker run` installs its handler must not kill the process: CStartup
        // ignores it before the runtime starts; on a platform where it could not, do it now.
        if broker_startup_ignores_sighup() == 0 { signal(SIGHUP, SIG_IGN) }
        await CommandLineMain.run(Broker.self)
    }
}
