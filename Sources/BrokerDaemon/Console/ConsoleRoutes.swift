import BrokerCore
import Foundation
import Hummingbird
import RoutingRules

/// The admin console: HTML pages under `/console`, their script and style sheet, and the JSON
/// they read beyond the admin endpoints (`/rules/outline`, `/stats`, `POST /-/try`).
extension AdminServer {
    func addConsole(
        to router: Router<BasicRequestContext>, daemon: Daemon, authorized: @escaping @Sendable (Request) -> Bool
    ) {
        let traces = configuration.showsDecisionTraces
        let trial = MessageTrial()
        router.get("/") { _, _ in
            Response(status: .seeOther, headers: [.location: "/console"])
        }
        // `/console/` too: the router ignores a trailing slash.
        router.get("console") { _, _ in
            let status = daemon.reloader.status
            let page = RulesPage(
                status: status, outline: RuleSetOutline(daemon.reloader.holder.current),
                counts: daemon.decisionObserver.decisionCounts)
            return Self.page(.rules, page.html)
        }
        router.get("console/agents") { _, _ in Self.page(.agents, ConsoleShells.agents) }
        router.get("console/decisions") { _, _ in
            Self.page(.decisions, ConsoleShells.decisions(tracesShown: traces))
        }
        router.get("console/try") { _, _ in Self.page(.tryIt, ConsoleShells.tryIt) }
        router.get("console/assets/console.js") { _, _ in
            Self.asset(ConsoleAssets.consoleJS, type: "text/javascript; charset=utf-8")
        }
        router.get("console/assets/console.css") { _, _ in
            Self.asset(ConsoleAssets.consoleCSS, type: "text/css; charset=utf-8")
        }
        router.get("rules/outline") { _, _ in
            Self.json(Self.outline(daemon.reloader.status, RuleSetOutline(daemon.reloader.holder.current)))
        }
        router.get("stats") { _, _ in Self.json(Self.stats(daemon)) }
        router.post("-/try") { request, _ in
            guard authorized(request) else { return Self.json(["error": "unauthorized"], status: .unauthorized) }
            // A JSON content type: a cross-site form cannot send one without the browser asking first.
            guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
                return Self.json(["error": "send the trial as application/json"], status: .unsupportedMediaType)
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: MessageTrial.maximumRequestSize)
            } catch {
                return Self.json(
                    ["error": .string("a trial is at most \(MessageTrial.maximumRequestSize >> 10) KiB")],
                    status: .contentTooLarge)
            }
            let answer = await trial.answer(
                Array(buffer: body), live: daemon.reloader.holder.current, snapshot: daemon.registry.snapshot)
            return Self.json(answer.body, status: HTTPResponse.Status(code: answer.status))
        }
    }

    static func page(_ section: ConsolePage.Section, _ body: String) -> Response {
        Response(
            status: .ok, headers: securityHeaders(type: "text/html; charset=utf-8", cache: "no-store"),
            body: .init(byteBuffer: ByteBuffer(string: ConsolePage(section: section, body: body).html)))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: securityHeaders(type: type, cache: "no-cache"),
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private static func securityHeaders(type: String, cache: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.contentSecurityPolicy] = ConsolePage.contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = cache
        headers[.init("Referrer-Policy")!] = "no-referrer"
        return headers
    }

    /// `/rules/outline`: the rule set in force, route by route.
    static func outline(_ status: RuleReloader.Status, _ outline: RuleSetOutline) -> JSONValue {
        func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }
        return .object(
            JSONObject([
                ("hash", .string(status.hash)),
                ("loaded_at", .string(ISO8601DateFormatter().string(from: status.loadedAt))),
                ("last_error", status.lastErrorJSON),
                (
                    "routes",
                    .array(
                        outline.routes.map { route in
                            .object(
                                JSONObject([
                                    ("name", .string(route.name)), ("kind", .string(route.kind.rawValue)),
                                    ("location", .string(route.location.description)), ("when", .string(route.when)),
                                    ("action", .string(route.action)), ("strategy", optional(route.strategy)),
                                    ("edits", .array(route.edits.map(JSONValue.string))),
                                    ("output", optional(route.output)), ("otherwise", optional(route.otherwise)),
                                ]))
                        })
                ),
            ]))
    }

    /// `/stats`: what every console page polls: decision totals by route and outcome, the
    /// registry's size and sync state, the rules in force and the last reload error.
    static func stats(_ daemon: Daemon) -> JSONValue {
        let counts = daemon.decisionObserver.decisionCounts
        let snapshot = daemon.registry.snapshot
        let sync = snapshot.sync.status
        let rules = daemon.reloader.status
        let routes = JSONObject(
            counts.byRoute.sorted { $0.key < $1.key }.map { route, outcomes in
                (
                    route,
                    JSONValue.object(
                        JSONObject(outcomes.sorted { $0.key < $1.key }.map { ($0.key, .number(JSONNumber($0.value))) }))
                )
            })
        return .object(
            JSONObject([
                ("at", .number(JSONNumber(Date().timeIntervalSince1970))),
                ("decisions", .number(JSONNumber(counts.total))), ("routes", .object(routes)),
                ("agents", .number(JSONNumber(snapshot.count))),
                ("online", .number(JSONNumber(snapshot.online.count))),
                ("synced", .bool(sync.state == .synced)), ("state", .string(sync.state.rawValue)),
                ("state_since", .string(ISO8601DateFormatter().string(from: sync.since))),
                ("warming", daemon.warmupJSON(sync)),
                ("rules_hash", .string(rules.hash)),
                ("last_error", rules.lastErrorJSON),
            ]))
    }
}
