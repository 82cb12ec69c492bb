import Foundation
import TestSupport
import Testing

/// `--help` texts are written as paragraphs, not wrapped by hand, so they read well at any width.
@Suite struct HelpTextTests {
    static let commands = [
        "", "run", "validate-rules", "test-rules", "explain", "demo", "simulate-server", "bench", "bench-status",
        "bench-reload",
    ]

    func help(_ command: String, columns: Int) async throws -> String {
        try await runProcess(
            brokerExecutable, (command.isEmpty ? [] : [command]) + ["--help"],
            environment: ["COLUMNS": String(columns), "PATH": "/usr/bin:/bin"]
        ).output
    }

    @Test(arguments: commands)
    func everyParagraphIsOneLineOnAWideTerminal(_ command: String) async throws {
        let text = try await help(command, columns: 5000)
        // The discussion: between the OVERVIEW paragraph and USAGE.
        let sections = text.components(separatedBy: "\n\n")
        let discussion = sections.dropFirst().prefix { !$0.hasPrefix("USAGE:") }
        #expect(!discussion.isEmpty, "\(command) has no discussion")
        for paragraph in discussion {
            #expect(!paragraph.contains("\n"), "broker \(command) --help: a paragraph breaks by hand:\n\(paragraph)")
        }
    }

    @Test(arguments: commands)
    func narrowTerminalsWrapWithinTheWidth(_ command: String) async throws {
        let text = try await help(command, columns: 60)
        for line in text.split(separator: "\n") where !line.hasPrefix("USAGE:") && !line.hasPrefix("  -") {
            let words = line.split(separator: " ")
            #expect(line.count <= 60 || words.count == 1, "broker \(command) --help at 60 columns: \(line)")
        }
    }
}
