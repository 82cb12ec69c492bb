import ArgumentParser
import BrokerApp
import BrokerDaemon
import BrokerDevTools
import CStartup
import Foundation

/// The `broker-dev` command: for trying and measuring the broker, not for production.
struct BrokerDev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker-dev",
        abstract: "The broker's tools for trying and measuring it: the demo, the agent-server simulator, benchmarks.",
        discussion: """
            run is broker run with in-memory queues too (--transport memory://NAME), for the demo and tests; the bench commands start the broker executable installed beside this one.
            """,
        version: BuildInfo.versionLine,
        subcommands: [RunCommand<DevTransports>.self] + DevTools.commands
    )
}

@main
enum BrokerDevMain {
    static func main() async {
        if broker_startup_ignores_sighup() == 0 { signal(SIGHUP, SIG_IGN) }
        await CommandLineMain.run(BrokerDev.self)
    }
}
