import RoutingRules
import Testing

/// `validate-rules --format github`: workflow commands the runner reads back exactly.
@Suite(.timeLimit(.minutes(10))) struct DiagnosticFormatTests {
    /// A `:` or `,` in a path would end the `file=` property (the annotation lands on another
    /// file, or nowhere): escaped, as in a title; the message keeps its own escapes.
    @Test func propertiesAndMessagesAreEscapedForTheRunner() {
        let location = SourceLocation(file: "rules/a,b:c.yaml", line: 3, column: 7)
        let diagnostic = Diagnostic(
            .error, location, "100% wrong:\nsee below",
            notes: [Diagnostic.Note(location: location, message: "first here")])
        let lines = DiagnosticFormat.github.render([diagnostic], valid: false).split(separator: "\n")
        #expect(lines.first == "::error file=rules/a%2Cb%3Ac.yaml,line=3,col=7::100%25 wrong:%0Asee below")
        #expect(lines.last == "::notice file=rules/a%2Cb%3Ac.yaml,line=3,col=7::first here")
    }
}
