import BrokerCore
import Foundation
import Hummingbird
import HummingbirdCore

/// Who may use the endpoints that show message contents or change something (`/decisions`,
/// `/shadow`, `POST /-/reload`, `POST /-/try`): everyone without a token, else only a request
/// that carries it (`Authorization: Bearer …`).
struct AdminAuthorization: Sendable {
    var token: String?

    func allows(_ request: Request) -> Bool {
        guard let token else { return true }
        return request.headers[.authorization] == "Bearer \(token)"
    }

    static let refusal = Response.json(["error": "unauthorized"], status: .unauthorized)
}

/// The admin HTTP API over an ``AdminSource``: `/metrics`, `/healthz`, `/readyz`, `/rules`,
/// `/agents`, `/decisions`, `/shadow` and `POST /-/reload`.
struct AdminAPI: Sendable {
    let source: any AdminSource
    let authorization: AdminAuthorization
    /// Whether `/decisions` and `/shadow` include explain traces (they quote message fields).
    let showsTraces: Bool
    /// The filtered and sorted `/agents` queries, bounded.
    let agentQueries: AgentQueryCache

    var routes: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.get("metrics") { _, _ in metrics() }
        routes.get("healthz") { _, _ in "ok\n" }
        routes.get("readyz") { _, _ in readiness() }
        routes.get("rules") { _, _ in rules() }
        routes.get("agents") { request, _ in agents(request.uri.queryParameters) }
        routes.get("decisions") { request, _ in
            authorization.allows(request) ? decisions(request.uri.queryParameters) : AdminAuthorization.refusal
        }
        routes.get("shadow") { request, _ in
            guard authorization.allows(request) else { return AdminAuthorization.refusal }
            let limit = max(1, min(request.uri.queryParameters.get("limit", as: Int.self) ?? 20, 50))
            return .json(AdminJSON.shadowReport(source.shadow, traces: showsTraces, limit: limit))
        }
        routes.post("-/reload") { request, _ in
            authorization.allows(request) ? await reload() : AdminAuthorization.refusal
        }
        return routes
    }

    private func metrics() -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: source.renderMetrics())))
    }

    private func readiness() -> Response {
        let checks = source.readiness
        let ready = checks.allSatisfy(\.ok)
        let body = JSONValue.object(
            JSONObject([
                ("ready", .bool(ready)),
                (
                    "checks",
                    .array(
                        checks.map {
                            .object(
                                JSONObject([
                                    ("check", .string($0.check)), ("ok", .bool($0.ok)),
                                    ("detail", .string($0.detail)),
                                ]))
                        })
                ),
            ]))
        return .json(body, status: ready ? .ok : .serviceUnavailable)
    }

    private func rules() -> Response {
        let status = source.rulesStatus
        return .json(
            .object(
                JSONObject([
                    ("hash", .string(status.hash)), ("files", .array(status.files.map(JSONValue.string))),
                    ("loaded_at", .string(AdminJSON.timestamp(status.loadedAt))),
                    ("routes", .number(JSONNumber(status.routes))),
                    ("reloads", .number(JSONNumber(status.reloads))), ("last_error", status.lastErrorJSON),
                ])))
    }

    private func agents(_ query: FlatDictionary<Substring, Substring>) -> Response {
        let snapshot = source.agents
        let selection = AgentQuery(
            text: query.get("q"), online: query.get("online"), sort: query.get("sort"), order: query.get("order"))
        let deliveries = source.deliveriesByAgent
        var selected: [Agent]?
        if !selection.isIdentity {
            selected = agentQueries.agents(selection, in: snapshot, deliveries: deliveries)
            guard selected != nil else {
                var busy = Response.json(
                    ["error": "too many agent searches at once; try again in a second"], status: .tooManyRequests)
                busy.headers[.retryAfter] = "1"
                return busy
            }
        }
        let page = AgentPage(
            offset: query.get("offset", as: Int.self), limit: query.get("limit", as: Int.self),
            count: selected?.count ?? snapshot.count)
        let agents =
            selected.map { Array($0[page.range.clamped(to: 0..<$0.count)]) } ?? snapshot.agents(in: page.range)
        return .json(
            .object(
                JSONObject([
                    ("count", .number(JSONNumber(snapshot.count))),
                    ("online", .number(JSONNumber(snapshot.online.count))),
                    ("matched", .number(JSONNumber(selected?.count ?? snapshot.count))),
                    ("synced", .bool(snapshot.sync.isSynced)),
                    ("state", .string(snapshot.sync.state.rawValue)),
                    ("state_since", .string(AdminJSON.timestamp(snapshot.sync.status.since))),
                    ("warming", AdminJSON.warmup(snapshot.sync.status, waiting: source.messagesWaitingForAgents)),
                    ("offset", .number(JSONNumber(page.offset))), ("limit", .number(JSONNumber(page.limit))),
                    ("next_offset", page.next.map { .number(JSONNumber($0)) } ?? .null),
                    ("agents", .array(agents.map { AdminJSON.describe($0, decisions: deliveries[$0.id] ?? 0) })),
                ])))
    }

    private func decisions(_ query: FlatDictionary<Substring, Substring>) -> Response {
        let limit = max(1, min(query.get("limit", as: Int.self) ?? 20, 1000))
        let route = query.get("route").flatMap { $0.isEmpty ? nil : $0 }
        let outcome = query.get("outcome").flatMap { $0.isEmpty ? nil : $0 }
        // One decision by its id (what the console fetches when a trace is opened).
        let id = query.get("id").flatMap { UInt64($0) }
        let filtered = route != nil || outcome != nil || id != nil
        let records = source.recentDecisions(limit: filtered ? Int.max : limit).filter { record in
            let labels = DecisionObserver.labels(record)
            return (route == nil || labels.route == route) && (outcome == nil || labels.outcome == outcome)
                && (id == nil || record.seed == id)
        }.prefix(limit)
        if query.get("format") == "jsonl" {
            // What broker diff-rules replays, oldest first (messages only with traces shown).
            let lines = records.reversed().compactMap { $0.recordLine(includesMessage: showsTraces) }
            return Response(
                status: .ok, headers: [.contentType: "application/jsonl"],
                body: .init(byteBuffer: ByteBuffer(bytes: lines.joined())))
        }
        // `traces=0`: without them (a list that shows a trace only when it is opened).
        let withTraces = showsTraces && query.get("traces") != "0"
        return .json(.array(records.map { AdminJSON.describe($0, trace: withTraces, traceable: showsTraces) }))
    }

    private func reload() async -> Response {
        switch await source.reloadRules(reason: "POST /-/reload") {
        case .loaded(let hash), .unchanged(let hash):
            return .json(.object(JSONObject([("hash", .string(hash)), ("status", .string("loaded"))])))
        case .failed(let diagnostics):
            return .json(
                .object(
                    JSONObject([
                        ("status", .string("invalid")), ("diagnostics", .array(diagnostics.map(JSONValue.string))),
                    ])),
                status: .unprocessableContent)
        }
    }
}

extension Response {
    /// `value` as an `application/json` response, one line.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(value) + [0x0A])))
    }
}
