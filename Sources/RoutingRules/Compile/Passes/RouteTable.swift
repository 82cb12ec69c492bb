/// The *route table* pass (``RuleSetCompiler/passes``): a slot for every route, the top-level ones in file order and then
/// the inline `otherwise:` routes, each under a unique name and with its `otherwise` resolved
/// to a slot. Later passes read names and links from here, never from the syntax.
struct RouteTable {
    struct Entry {
        /// The name as written, or `parent/otherwise` for an inline route.
        let name: Located<String>
        let syntax: RouteSyntax
        /// The slot `otherwise` leads to: nil when there is none, or when its target is unknown
        /// (reported).
        var otherwise: Int?
        /// Where the `otherwise` is written, when there is one.
        let otherwiseLocation: SourceLocation?
    }

    private(set) var entries: [Entry] = []
    /// The slots of the top-level routes, in evaluation order.
    private(set) var topLevel: [Int] = []
    private var slots: [String: Int] = [:]

    init(_ files: [RuleFileSyntax], sink: inout DiagnosticSink) {
        for file in files {
            for route in file.routes {
                // A route the parser found nameless was reported there.
                guard let name = route.name else { continue }
                if let first = slots[name.value] {
                    sink.error(
                        name.location,
                        "duplicate route name '\(name.value)' (first defined at \(entries[first].name.location))")
                    continue
                }
                topLevel.append(add(route, name: name))
            }
        }
        for slot in topLevel { addInline(after: slot) }
        resolveTargets(sink: &sink)
    }

    /// The slot of the route named `name`.
    func slot(named name: String) -> Int? { slots[name] }

    private mutating func add(_ route: RouteSyntax, name: Located<String>) -> Int {
        let slot = entries.count
        let location: SourceLocation? =
            switch route.otherwise {
            case .route(let target): target.location
            case .inline(let inline): inline.location
            case nil: nil
            }
        entries.append(Entry(name: name, syntax: route, otherwise: nil, otherwiseLocation: location))
        slots[name.value] = slot
        return slot
    }

    private mutating func addInline(after parent: Int) {
        guard case .inline(let inline) = entries[parent].syntax.otherwise else { return }
        let name = Located(value: entries[parent].name.value + "/otherwise", location: inline.location)
        addInline(after: add(inline, name: name))
    }

    private mutating func resolveTargets(sink: inout DiagnosticSink) {
        for slot in entries.indices {
            switch entries[slot].syntax.otherwise {
            case .route(let target):
                if let found = slots[target.value] {
                    entries[slot].otherwise = found
                } else {
                    let names = topLevel.map { entries[$0].name.value }
                    sink.error(
                        target.location,
                        "'otherwise' names unknown route '\(target.value)'\(Suggestion.didYouMean(target.value, in: names))"
                    )
                }
            case .inline:
                entries[slot].otherwise = slots[entries[slot].name.value + "/otherwise"]
            case nil:
                break
            }
        }
    }

    /// The *otherwise chains* pass: reports every loop of `otherwise` links once, at the link
    /// that closes it.
    func checkChains(sink: inout DiagnosticSink) {
        var reported: Set<[Int]> = []
        for start in entries.indices {
            var chain = [start]
            var current = start
            while let next = entries[current].otherwise {
                if let loopStart = chain.firstIndex(of: next) {
                    let loop = Array(chain[loopStart...])
                    if reported.insert(loop.sorted()).inserted, let location = entries[current].otherwiseLocation {
                        let names = (loop + [next]).map { entries[$0].name.value }
                        sink.error(location, "'otherwise' cycle: \(names.joined(separator: " -> "))")
                    }
                    break
                }
                chain.append(next)
                current = next
            }
        }
    }
}
