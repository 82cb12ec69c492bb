import BrokerCore

/// How long one compiler pass took (`validate-rules --timings`).
public struct PassTiming: Sendable, Hashable {
    public var name: String
    public var duration: Duration
}

/// What the compiler's passes read and build: the files, then each pass's product in the order
/// of ``RuleSetCompiler/passes``. A product is nil until its pass has run (or when the pass
/// did not run because earlier problems made it pointless).
struct Compilation {
    let files: [RuleFileSyntax]
    let specialises: Bool
    let maximumPatternSteps: Int
    var sink = DiagnosticSink()
    var defaults: MergedDefaults?
    var table: RouteTable?
    var lowered: LoweredRoutes?
    var index: RouteIndex?
}

/// One pass of the rule compiler, as a row of ``RuleSetCompiler/passes``.
struct CompilerPass: Sendable {
    /// When a pass runs.
    enum Runs: Sendable {
        /// Always, so that one run reports every problem.
        case always
        /// Only on rules without errors so far (parsing included): its findings would only echo
        /// them, or its product would never be used.
        case withoutErrors
    }

    /// The pass's name, as `validate-rules --timings` shows it.
    let name: String
    let runs: Runs
    let apply: @Sendable (inout Compilation) -> Void
}

/// Compiles the syntax trees of all files of a rule set, running the passes of ``passes`` in
/// order, each timed under its name.
struct RuleSetCompiler {
    /// The passes, in order.
    static let passes: [CompilerPass] = [
        // Each `defaults:` key from the one file that sets it.
        CompilerPass(name: "merge defaults", runs: .always) { c in
            c.defaults = MergedDefaults(c.files, sink: &c.sink)
        },
        // A slot for every route, named or inline, unique names, every `otherwise` resolved.
        CompilerPass(name: "route table", runs: .always) { c in
            c.table = RouteTable(c.files, sink: &c.sink)
        },
        // No loop of `otherwise` links.
        CompilerPass(name: "otherwise chains", runs: .always) { c in
            c.table?.checkChains(sink: &c.sink)
        },
        // Type checks, and the syntax turned into predicates, edits, actions and selections.
        CompilerPass(name: "lowering", runs: .always) { c in
            guard let table = c.table, let defaults = c.defaults else { return }
            c.lowered = RouteLowering.lower(
                table, defaults: defaults, specialises: c.specialises, maximumPatternSteps: c.maximumPatternSteps,
                sink: &c.sink)
        },
        // Warnings for routes that can never be reached.
        CompilerPass(name: "shadowing", runs: .withoutErrors) { c in
            guard let table = c.table else { return }
            ShadowingCheck.run(table, sink: &c.sink)
        },
        // The route index over the top-level routes' conditions.
        CompilerPass(name: "index", runs: .withoutErrors) { c in
            guard let table = c.table, let lowered = c.lowered else { return }
            c.index = RouteIndex.build(table.topLevel.map { (Int32($0), lowered.routes[$0].when) })
        },
    ]

    private(set) var sink = DiagnosticSink()
    private(set) var timings: [PassTiming] = []
    /// Dedicated leaves for common tests (see ``Predicate/leaf(_:)``).
    var specialises = true
    /// Whether parsing found errors (then the passes that run only without errors do not run).
    var parsingFoundErrors = false
    /// See ``RuleFileLimits/maximumPatternSteps``.
    var maximumPatternSteps = RuleFileLimits().maximumPatternSteps

    /// Runs the passes over `files`; the rule set, or nil when a pass found errors.
    mutating func compile(_ files: [RuleFileSyntax], hash: String) -> RuleSet? {
        var compilation = Compilation(
            files: files, specialises: specialises, maximumPatternSteps: maximumPatternSteps)
        let clock = ContinuousClock()
        for pass in Self.passes {
            if pass.runs == .withoutErrors, parsingFoundErrors || compilation.sink.hasErrors { continue }
            let started = clock.now
            pass.apply(&compilation)
            timings.append(PassTiming(name: pass.name, duration: clock.now - started))
        }
        sink = compilation.sink
        guard !sink.hasErrors, let defaults = compilation.defaults, let table = compilation.table,
            let lowered = compilation.lowered, let index = compilation.index
        else { return nil }
        return RuleSet(
            hash: hash, files: files.map(\.file), routes: lowered.routes, topLevel: table.topLevel, index: index,
            onNoRoute: lowered.noRoute, defaultOutput: defaults.defaultOutput,
            deadLetterQueue: defaults.deadLetterQueue, indexedMetricKeys: lowered.indexedMetricKeys,
            readsRouteName: lowered.readsRouteName)
    }
}
