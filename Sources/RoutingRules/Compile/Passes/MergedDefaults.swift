import BrokerCore

/// The *merge defaults* pass (``RuleSetCompiler/passes``): the `defaults:` of every file as one set. Each key may be set in
/// one file only, and the default output must be a constant destination.
struct MergedDefaults {
    var output: Located<DestinationSyntax>?
    var onNoRoute: Located<TerminalSyntax>?
    var deadLetter: Located<String>?
    /// Where to report problems that belong to no key (the first file's start).
    var location: SourceLocation

    init(_ files: [RuleFileSyntax], sink: inout DiagnosticSink) {
        location = SourceLocation(file: files.first?.file ?? "rules", line: 1, column: 1)
        func take<T>(_ value: Located<T>?, into slot: inout Located<T>?, key: String) {
            guard let value else { return }
            if let existing = slot {
                sink.error(value.location, "'defaults.\(key)' is already set at \(existing.location)")
            } else {
                slot = value
            }
        }
        for file in files {
            take(file.defaults.output, into: &output, key: "output")
            take(file.defaults.onNoRoute, into: &onNoRoute, key: "on_no_route")
            take(file.defaults.deadLetter, into: &deadLetter, key: "dead_letter")
        }
        if let output, Self.constant(output.value) == nil {
            sink.error(output.location, "'defaults.output' cannot contain placeholders")
        }
    }

    /// Where delivered messages go when a route names no output.
    var defaultOutput: Destination { output.flatMap { Self.constant($0.value) } ?? .queue("server_input_queue") }

    var deadLetterQueue: String { deadLetter?.value ?? "broker_dead_letter" }

    /// What happens to a message no route takes: `on_no_route`, or dead-lettering.
    var noRouteSyntax: RouteSyntax {
        let terminal =
            onNoRoute?.value
            ?? .deadLetter(
                TemplateSyntax(parts: [.literal("no route matched")], text: "no route matched", location: location))
        return RuleParser.terminalRoute(terminal, at: onNoRoute?.location ?? location)
    }

    private static func constant(_ destination: DestinationSyntax) -> Destination? {
        switch destination {
        case .queue(let t): t.isConstant ? .queue(t.text) : nil
        case .exchange(let e, let k): e.isConstant && k.isConstant ? .exchange(e.text, routingKey: k.text) : nil
        }
    }
}
