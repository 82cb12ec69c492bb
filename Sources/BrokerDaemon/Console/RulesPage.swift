import Foundation
import RoutingRules

/// The console's first page: the rule set in force as a picture.
///
/// Routes are cards in evaluation order. A thin line on the left joins each top-level route to
/// the next ("no match: try the next"), ending in the `on_no_route` fallback; inline `otherwise`
/// routes sit indented under the route whose chain they are. Every `otherwise` link is an arrow on
/// the right, drawn by the script from the cards' `data-otherwise` attributes (and written in the
/// card, for a reader without the script). Each card has its live counts.
struct RulesPage {
    var status: RuleReloader.Status
    var outline: RuleSetOutline
    var counts: DecisionObserver.DecisionCounts

    var html: String {
        var cards: [String] = []
        var depth = 0
        for (number, route) in outline.routes.enumerated() {
            depth = route.kind == .inline ? depth + 1 : 0
            cards.append(card(route, id: "route-\(number)", depth: depth))
        }
        return """
            <section class="rules-head" data-hash="\(HTML.escape(status.hash))">
            <h1>Rule set <code class="hash">\(HTML.escape(String(status.hash.prefix(12))))</code></h1>
            <dl class="facts">
            <dt>loaded</dt><dd>\(HTML.time(status.loadedAt))</dd>
            <dt>files</dt><dd>\(status.files.map { "<code>\(HTML.escape($0))</code>" }.joined(separator: " "))</dd>
            <dt>routes</dt><dd>\(status.routes)</dd>
            <dt>reloads</dt><dd>\(status.reloads)</dd>
            <dt>decisions</dt><dd><span id="decisions-total">\(counts.total)</span> · <span id="decisions-rate">–</span>/s</dd>
            </dl>
            \(Self.reloadError(status.lastError))
            </section>
            <section class="graph" id="graph">
            <svg class="edges" id="edges" aria-hidden="true"></svg>
            <ol class="routes">
            \(cards.joined(separator: "\n"))
            </ol>
            </section>
            """
    }

    /// The last reload's diagnostics, when it failed (the script also shows them in the banner).
    static func reloadError(_ diagnostics: [String]?) -> String {
        guard let diagnostics else { return #"<div class="reload-failed" id="reload-failed" hidden></div>"# }
        let items = diagnostics.map { "<li><code>\(HTML.escape($0))</code></li>" }.joined()
        return """
            <div class="reload-failed" id="reload-failed"><strong>The last reload failed; the rules below are \
            still in force.</strong><ul>\(items)</ul></div>
            """
    }

    private func card(_ route: RuleSetOutline.Route, id: String, depth: Int) -> String {
        var rows = [row("when", route.when), row("then", route.action)]
        if let strategy = route.strategy { rows.append(row("strategy", strategy)) }
        if !route.edits.isEmpty { rows.append(row("edits", route.edits.joined(separator: "; "))) }
        if let output = route.output { rows.append(row("output", output)) }
        if let otherwise = route.otherwise { rows.append(row("otherwise", "→ " + otherwise)) }
        let outcomes = (counts.byRoute[countedName(route)] ?? [:]).sorted { $0.key < $1.key }
        let chips = outcomes.map {
            #"<li data-outcome="\#(HTML.escape($0.key))">\#(HTML.escape($0.key)) <b>\#($0.value)</b></li>"#
        }
        let total = outcomes.reduce(0) { $0 + $1.value }
        let otherwise = route.otherwise.map { #" data-otherwise="\#(HTML.escape($0))""# } ?? ""
        let kind = route.kind == .fallback ? "no route matched" : route.kind == .inline ? "otherwise" : "route"
        return """
            <li class="route \(route.kind)" id="\(id)" data-route="\(HTML.escape(route.name))" \
            data-counted="\(HTML.escape(countedName(route)))" data-depth="\(depth)"\(otherwise)>
            <div class="route-title"><span class="kind">\(kind)</span> <strong>\(HTML.escape(route.name))</strong>
            <a class="source" title="where it is written">\(HTML.escape(route.location.description))</a></div>
            <dl>\(rows.joined())</dl>
            <div class="counts"><span class="rate">–</span>/s · <span class="total">\(total)</span> decided \
            <ul class="outcomes">\(chips.joined())</ul></div>
            </li>
            """
    }

    /// The name decisions of `route` are counted under: `on_no_route` decides as "no route".
    private func countedName(_ route: RuleSetOutline.Route) -> String {
        route.kind == .fallback ? "none" : route.name
    }

    private func row(_ term: String, _ text: String) -> String {
        "<dt>\(term)</dt><dd>\(HTML.escape(text))</dd>"
    }
}
