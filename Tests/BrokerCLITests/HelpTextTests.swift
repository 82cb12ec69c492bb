import Foundation
import TestSupport
import Testing

/// `--help` texts are written as paragraphs, not wrapped by hand, so they read well at any width.
@Suite struct HelpTextTests {
    static let commands = [
        "", "run", "validate-rules", "test-rules", "explain", "demo", "simulate-server", "bench", "bench-status",
        "bench-reload",
    ]

    func help(_ command: String, columns: Int) throws -> String {
        let process = Process()
        process.executableURL = brokerExecutable
        process.arguments = (command.isEmpty ? [] : [command]) + ["--help"]
        process.environment = ["COLUMNS": String(columns), "PATH": "/usr/bin:/bin"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }

    @Test(arguments: commands)
    func everyParagraphIsOneLineOnAWideTerminal(_ command: String) throws {
        let text = try help(command, columns: 5000)
        // The discussion: between the OVERVIEW paragraph and USAGE.
        let sections = text.components(separatedBy: "\n\n")
        let discussion = sections.dropFirst().prefix { !$0.hasPrefix("USAGE:") }
        #expect(!discussion.isEmpty, "\(command) has no discussion")
        for paragraph in discussion {
            #expect(!paragraph.contains("\n"), "broker \(command) --help: a paragraph breaks by hand:\n\(paragraph)")
        }
    }

    @Test(arguments: commands)
    func narrowTerminalsWrapWithinTheWidth(_ command: String) throws {
        let text = try help(command, columns: 60)
        for line in text.split(separator: "\n") where !line.hasPrefix("USAGE:") && !line.hasPrefix("  -") {
            let words = line.split(separator: " ")
            #expect(line.count <= 60 || words.count == 1, "broker \(command) --help at 60 columns: \(line)")
        }
    }
}
