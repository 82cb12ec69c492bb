import Foundation
import TestSupport
import Testing

/// `--help` texts are written as paragraphs, not wrapped by hand, so they read well at any width.
@Suite(.timeLimit(.minutes(10))) struct HelpTextTests {
    /// `broker …` and `broker-dev …` (the first word names the executable).
    static let commands = [
        "broker", "broker run", "broker validate-rules", "broker test-rules", "broker explain", "broker diff-rules",
        "broker-dev", "broker-dev run", "broker-dev demo", "broker-dev simulate-server", "broker-dev bench",
        "broker-dev bench-status", "broker-dev bench-reload", "broker-dev bench-replicas", "broker-dev bench-console",
    ]

    func help(_ command: String, columns: Int) async throws -> String {
        let words = command.split(separator: " ").map(String.init)
        return try await runProcess(
            words[0] == "broker" ? brokerExecutable : brokerDevExecutable, Array(words.dropFirst()) + ["--help"],
            environment: ["COLUMNS": String(columns), "PATH": "/usr/bin:/bin"]
        ).output
    }

    /// The product binary offers the daemon and the rules toolchain; everything for trying and
    /// measuring is `broker-dev`'s, so production has one short list.
    @Test func eachExecutableListsItsOwnCommands() async throws {
        let product = try await help("broker", columns: 200)
        for command in ["run", "validate-rules", "test-rules", "explain", "diff-rules"] {
            #expect(product.contains("\n  \(command) "), "broker --help lacks \(command)")
        }
        for command in ["demo", "simulate-server", "bench"] {
            #expect(!product.contains("\n  \(command) "), "broker --help offers \(command)")
        }
        let dev = try await help("broker-dev", columns: 200)
        for command in ["run", "demo", "simulate-server", "bench", "bench-console"] {
            #expect(dev.contains("\n  \(command) "), "broker-dev --help lacks \(command)")
        }
    }

    @Test(arguments: commands)
    func everyParagraphIsOneLineOnAWideTerminal(_ command: String) async throws {
        let text = try await help(command, columns: 5000)
        // The discussion: between the OVERVIEW paragraph and USAGE.
        let sections = text.components(separatedBy: "\n\n")
        let discussion = sections.dropFirst().prefix { !$0.hasPrefix("USAGE:") }
        #expect(!discussion.isEmpty, "\(command) has no discussion")
        for paragraph in discussion {
            #expect(!paragraph.contains("\n"), "\(command) --help: a paragraph breaks by hand:\n\(paragraph)")
        }
    }

    @Test(arguments: commands)
    func narrowTerminalsWrapWithinTheWidth(_ command: String) async throws {
        let text = try await help(command, columns: 60)
        for line in text.split(separator: "\n") where !line.hasPrefix("USAGE:") && !line.hasPrefix("  -") {
            let words = line.split(separator: " ")
            #expect(line.count <= 60 || words.count == 1, "\(command) --help at 60 columns: \(line)")
        }
    }
}
