import BrokerCore
import Foundation
import Hummingbird
import RoutingRules

/// The admin console over an ``AdminSource``: HTML pages under `/console`, their script and
/// style sheet, and the JSON they read beyond the admin API (`/rules/outline`, `/stats`,
/// `POST /-/try`).
struct Console: Sendable {
    let source: any AdminSource
    let authorization: AdminAuthorization
    /// Whether the decisions page offers traces.
    let showsTraces: Bool

    var routes: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        let trial = MessageTrial()
        routes.get("/") { _, _ in
            Response(status: .seeOther, headers: [.location: "/console"])
        }
        // `/console/` too: the router ignores a trailing slash.
        routes.get("console") { _, _ in
            let page = RulesPage(
                status: source.rulesStatus, outline: RuleSetOutline(source.ruleSet), counts: source.decisionCounts)
            return Self.page(.rules, page.html)
        }
        routes.get("console/agents") { _, _ in Self.page(.agents, ConsoleShells.agents) }
        routes.get("console/decisions") { _, _ in
            Self.page(.decisions, ConsoleShells.decisions(tracesShown: showsTraces))
        }
        routes.get("console/try") { _, _ in Self.page(.tryIt, ConsoleShells.tryIt) }
        routes.get("console/assets/console.js") { _, _ in
            Self.asset(ConsoleAssets.consoleJS, type: "text/javascript; charset=utf-8")
        }
        routes.get("console/assets/console.css") { _, _ in
            Self.asset(ConsoleAssets.consoleCSS, type: "text/css; charset=utf-8")
        }
        routes.get("rules/outline") { _, _ in
            Response.json(Self.outline(source.rulesStatus, RuleSetOutline(source.ruleSet)))
        }
        routes.get("stats") { _, _ in Response.json(Self.stats(source)) }
        routes.post("-/try") { request, _ in
            guard authorization.allows(request) else { return AdminAuthorization.refusal }
            // A JSON content type: a cross-site form cannot send one without the browser asking first.
            guard request.headers[.contentType]?.hasPrefix("application/json") == true else {
                return Response.json(["error": "send the trial as application/json"], status: .unsupportedMediaType)
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: MessageTrial.maximumRequestSize)
            } catch {
                return Response.json(
                    ["error": .string("a trial is at most \(MessageTrial.maximumRequestSize >> 10) KiB")],
                    status: .contentTooLarge)
            }
            let answer = await trial.answer(Array(buffer: body), live: source.ruleSet, snapshot: source.agents)
            return Response.json(answer.body, status: HTTPResponse.Status(code: answer.status))
        }
        return routes
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
                ("loaded_at", .string(AdminJSON.timestamp(status.loadedAt))),
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
    static func stats(_ source: any AdminSource) -> JSONValue {
        let counts = source.decisionCounts
        let snapshot = source.agents
        let sync = snapshot.sync.status
        let rules = source.rulesStatus
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
                ("state_since", .string(AdminJSON.timestamp(sync.since))),
                ("warming", AdminJSON.warmup(sync, waiting: source.messagesWaitingForAgents)),
                ("rules_hash", .string(rules.hash)),
                ("last_error", rules.lastErrorJSON),
            ]))
    }
}
