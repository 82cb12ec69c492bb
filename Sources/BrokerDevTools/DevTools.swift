import ArgumentParser

/// The commands for trying and measuring the broker, which `broker` offers beside its own.
public enum DevTools {
    public static let commands: [any ParsableCommand.Type] = [
        Demo.self, SimulateServer.self, Bench.self, BenchStatus.self, BenchReload.self, BenchReplicas.self,
        BenchConsole.self, BenchFloor.self, SwiftLoop.self, BenchAllocations.self,
    ]
}
