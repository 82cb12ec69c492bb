import BrokerCore

/// How long one compiler pass took (`validate-rules --timings`).
public struct PassTiming: Sendable, Hashable {
    public var name: String
    public var duration: Duration
}

/// Compiles the syntax trees of all files of a rule set in named, timed passes:
///
/// 1. *merge defaults* (``MergedDefaults``): each `defaults:` key from the one file that sets it;
/// 2. *route table* (``RouteTable``): a slot for every route, named or inline, unique names,
///    every `otherwise` resolved to a slot;
/// 3. *otherwise chains*: no loop of `otherwise` links;
/// 4. *lowering* (``RouteLowering``): type checks, and the syntax turned into predicates,
///    edits, actions and selections;
/// 5. *shadowing* (``ShadowingCheck``): warnings for routes that can never be reached;
/// 6. *index*: the route index over the top-level routes' conditions.
///
/// Passes 1–4 always run, so one run reports every problem. Shadowing runs only on rules
/// without errors (its warnings would only echo them), and the index is built only for a rule
/// set without errors.
struct RuleSetCompiler {
    private(set) var sink = DiagnosticSink()
    private(set) var timings: [PassTiming] = []
    /// Dedicated leaves for common tests (see ``Predicate/leaf(_:)``).
    var specialises = true
    /// Whether to look for unreachable routes: not when parsing already found errors.
    var checksShadowing = true
    /// See ``RuleFileLimits/maximumPatternSteps``.
    var maximumPatternSteps = RuleFileLimits().maximumPatternSteps

    mutating func compile(_ files: [RuleFileSyntax], hash: String) -> RuleSet? {
        let defaults = pass("merge defaults") { MergedDefaults(files, sink: &$0) }
        let table = pass("route table") { RouteTable(files, sink: &$0) }
        pass("otherwise chains") { table.checkChains(sink: &$0) }
        let (specialises, maximumPatternSteps) = (specialises, maximumPatternSteps)
        let lowered = pass("lowering") {
            RouteLowering.lower(
                table, defaults: defaults, specialises: specialises, maximumPatternSteps: maximumPatternSteps,
                sink: &$0)
        }
        guard checksShadowing, !sink.hasErrors else { return nil }
        pass("shadowing") { ShadowingCheck.run(table, sink: &$0) }
        let index = pass("index") { _ in
            RouteIndex.build(table.topLevel.map { (Int32($0), lowered.routes[$0].when) })
        }
        return RuleSet(
            hash: hash, files: files.map(\.file), routes: lowered.routes, topLevel: table.topLevel, index: index,
            onNoRoute: lowered.noRoute, defaultOutput: defaults.defaultOutput,
            deadLetterQueue: defaults.deadLetterQueue, indexedMetricKeys: lowered.indexedMetricKeys,
            readsRouteName: lowered.readsRouteName)
    }

    private mutating func pass<Result>(_ name: String, _ work: (inout DiagnosticSink) -> Result) -> Result {
        let clock = ContinuousClock()
        let started = clock.now
        let result = work(&sink)
        timings.append(PassTiming(name: name, duration: clock.now - started))
        return result
    }
}
