import BrokerCore
import BrokerRouter
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import RoutingRules
import ServiceLifecycle
import Synchronization

/// The admin HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `/rules`, `/agents`,
/// `/decisions`, `POST /-/reload`, and the console (``addConsole(to:daemon:authorized:)``).
///
/// Bound to 127.0.0.1 by default. Bound anywhere else it requires a token
/// (`Authorization: Bearer …`) for `/-/reload`, `/decisions` and `/-/try`, and refuses to start without one.
public final class AdminServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        /// The port `broker run` listens on unless told otherwise (no common tool uses it; 9090,
        /// the previous default, is Prometheus's own).
        public static let defaultPort = 7391
        /// 0 picks a free port (tests).
        public var port = defaultPort
        public var token: String?
        /// Whether `/decisions` includes explain traces (they quote message fields); without
        /// them it shows time, route, outcome and message id only.
        public var showsDecisionTraces = true
        /// Connections idle this long are closed (3,000 idle connections were held open before).
        public var idleTimeout: Duration = .seconds(30)
        /// At most this many admin connections are open at once; more wait in the listen backlog.
        /// Kept well below the process's file limit: 1,100 idle connections once took every file
        /// descriptor and the AMQP reconnection failed for 30 s.
        public var maximumConnections = 128

        public init() {}

        var isLoopback: Bool { host == "127.0.0.1" || host == "localhost" || host == "::1" }
    }

    let configuration: Configuration
    private let listening = Listening()
    /// The filtered and sorted `/agents` queries, bounded.
    public let agentQueries = AgentQueryCache()

    init(configuration: Configuration) { self.configuration = configuration }

    /// `host:port` once started.
    public var address: String { "\(configuration.host):\(port)" }
    public var port: Int { listening.port ?? 0 }

    /// Waits until the server listens (true) or failed to (false).
    func waitUntilListening() async -> Bool { await listening.outcome() }

    struct MissingToken: Error, CustomStringConvertible {
        var description: String { "the admin server is bound to a non-loopback address: set an admin token" }
    }

    /// Serves the admin API and the console for `daemon` until the service group's graceful
    /// shutdown; throws ``CannotBind`` when the address cannot be bound.
    func run(daemon: Daemon) async throws {
        // However it ends, whoever still waits learns it will not listen (after a bind, a no-op).
        defer { listening.fail() }
        try await serve(daemon: daemon)
    }

    private func serve(daemon: Daemon) async throws {
        guard configuration.isLoopback || configuration.token != nil else { throw MissingToken() }
        let router = Router()
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: SameOriginWrites())
        if configuration.token == nil {
            // Without a token only local pages may ask: a browser page that renames its own
            // host to 127.0.0.1 (DNS rebinding) still sends its own name in Host.
            router.add(middleware: LocalHostOnly())
        }
        let token = configuration.token
        let traces = configuration.showsDecisionTraces
        @Sendable func authorized(_ request: Request) -> Bool {
            guard let token else { return true }
            return request.headers[.authorization] == "Bearer \(token)"
        }
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: daemon.renderMetrics())))
        }
        router.get("healthz") { _, _ in "ok\n" }
        router.get("readyz") { _, _ in
            let checks = daemon.readiness
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
            return Self.json(body, status: ready ? .ok : .serviceUnavailable)
        }
        router.get("rules") { _, _ in
            let s = daemon.reloader.status
            return Self.json(
                .object(
                    JSONObject([
                        ("hash", .string(s.hash)), ("files", .array(s.files.map(JSONValue.string))),
                        ("loaded_at", .string(ISO8601DateFormatter().string(from: s.loadedAt))),
                        ("routes", .number(JSONNumber(s.routes))), ("reloads", .number(JSONNumber(s.reloads))),
                        ("last_error", s.lastErrorJSON),
                    ])))
        }
        router.get("agents") { request, _ in
            let snapshot = daemon.registry.snapshot
            let query = request.uri.queryParameters
            let selection = AgentQuery(
                text: query.get("q"), online: query.get("online"), sort: query.get("sort"), order: query.get("order"))
            let deliveries = daemon.decisionObserver.deliveriesByAgent
            var selected: [Agent]?
            if !selection.isIdentity {
                selected = daemon.admin.agentQueries.agents(selection, in: snapshot, deliveries: deliveries)
                guard selected != nil else {
                    var busy = Self.json(
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
            return Self.json(
                .object(
                    JSONObject([
                        ("count", .number(JSONNumber(snapshot.count))),
                        ("online", .number(JSONNumber(snapshot.online.count))),
                        ("matched", .number(JSONNumber(selected?.count ?? snapshot.count))),
                        ("synced", .bool(snapshot.sync.isSynced)),
                        ("state", .string(snapshot.sync.state.rawValue)),
                        ("state_since", .string(ISO8601DateFormatter().string(from: snapshot.sync.status.since))),
                        ("warming", daemon.warmupJSON(snapshot.sync.status)),
                        ("offset", .number(JSONNumber(page.offset))), ("limit", .number(JSONNumber(page.limit))),
                        ("next_offset", page.next.map { .number(JSONNumber($0)) } ?? .null),
                        ("agents", .array(agents.map { Self.describe($0, decisions: deliveries[$0.id] ?? 0) })),
                    ])))
        }
        router.get("decisions") { request, _ in
            guard authorized(request) else { return Self.json(["error": "unauthorized"], status: .unauthorized) }
            let query = request.uri.queryParameters
            let limit = max(1, min(query.get("limit", as: Int.self) ?? 20, 1000))
            let route = query.get("route").flatMap { $0.isEmpty ? nil : $0 }
            let outcome = query.get("outcome").flatMap { $0.isEmpty ? nil : $0 }
            // One decision by its id (what the console fetches when a trace is opened).
            let id = query.get("id").flatMap { UInt64($0) }
            let filtered = route != nil || outcome != nil || id != nil
            let records = daemon.decisionObserver.recentDecisions(limit: filtered ? Int.max : limit).filter { record in
                let labels = DecisionObserver.labels(record)
                return (route == nil || labels.route == route) && (outcome == nil || labels.outcome == outcome)
                    && (id == nil || record.seed == id)
            }.prefix(limit)
            if query.get("format") == "jsonl" {
                // What broker diff-rules replays, oldest first (messages only with traces shown).
                let lines = records.reversed().compactMap { $0.recordLine(includesMessage: traces) }
                return Response(
                    status: .ok, headers: [.contentType: "application/jsonl"],
                    body: .init(byteBuffer: ByteBuffer(bytes: lines.joined())))
            }
            // `traces=0`: without them (a list that shows a trace only when it is opened).
            let withTraces = traces && query.get("traces") != "0"
            return Self.json(.array(records.map { Self.describe($0, trace: withTraces, traceable: traces) }))
        }
        addConsole(to: router, daemon: daemon, authorized: authorized)
        router.get("shadow") { request, _ in
            guard authorized(request) else { return Self.json(["error": "unauthorized"], status: .unauthorized) }
            let limit = max(1, min(request.uri.queryParameters.get("limit", as: Int.self) ?? 20, 50))
            return Self.json(Self.shadowReport(daemon.shadow, traces: traces, limit: limit))
        }
        router.post("-/reload") { request, _ in
            guard authorized(request) else { return Self.json(["error": "unauthorized"], status: .unauthorized) }
            if let shadow = daemon.shadow { await shadow.reloader.reload(reason: "POST /-/reload") }
            switch await daemon.reloader.reload(reason: "POST /-/reload") {
            case .loaded(let hash), .unchanged(let hash):
                return Self.json(.object(JSONObject([("hash", .string(hash)), ("status", .string("loaded"))])))
            case .failed(let diagnostics):
                return Self.json(
                    .object(
                        JSONObject([
                            ("status", .string("invalid")), ("diagnostics", .array(diagnostics.map(JSONValue.string))),
                        ])),
                    status: .unprocessableContent)
            }
        }
        var logger = Logger(label: "broker.admin")
        logger.logLevel = .warning
        let address = BindAddress(host: configuration.host, port: configuration.port)
        let idleTimeout = configuration.idleTimeout
        let maximumConnections = max(1, configuration.maximumConnections)
        let listening = self.listening
        let application = Application(
            router: router, server: .http1(configuration: .init(idleTimeout: .init(idleTimeout))),
            configuration: .init(
                address: .hostname(address.host, port: address.port),
                availableConnectionsDelegate: MaximumAvailableConnections(maximumConnections)),
            onServerRunning: { channel in listening.bound(to: channel.localAddress?.port ?? 0) }, logger: logger)
        do {
            try await application.run()
        } catch let error where listening.port == nil {
            throw CannotBind(address: "\(address.host):\(address.port)", reason: "\(error)")
        }
    }

    private struct BindAddress: Sendable {
        var host: String
        var port: Int
    }

    /// The admin address could not be bound (taken, or not an address of this host).
    public struct CannotBind: Error, CustomStringConvertible {
        public var address: String
        public var reason: String
        public var description: String { "cannot listen on the admin address \(address): \(reason)" }
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(value) + [0x0A])))
    }

    /// How many candidates a trace the daemon shows names (it counts them all): a selection
    /// over 100,000 online agents must not put 100,000 ids in every trace.
    static let traceCandidates = 50

    /// Traces already replayed: a console page polls the same recent decisions every second,
    /// and each is explained once.
    static let traces = TraceCache()

    /// A decision as `/decisions` shows it: with its trace when `trace`; `traced` says whether
    /// one can be had (`traceable`: the daemon shows traces; the message was kept whole).
    static func describe(_ record: RoutingRecord, trace: Bool = true, traceable: Bool = true) -> JSONValue {
        var object = JSONObject([
            ("id", .string(String(record.seed))),
            ("at", .string(ISO8601DateFormatter().string(from: record.at))), ("rule_set", .string(record.ruleSet.hash)),
            ("route", record.decision?.route.map(JSONValue.string) ?? .null),
            ("outcome", .string(DecisionObserver.labels(record).outcome)),
        ])
        if record.isTrimmed {
            object["message_id"] = record.messageID.map(JSONValue.string) ?? .null
            object["explanation"] = .string(
                "(a \(record.bodySize)-byte message: kept without its body and trace, over the \(DecisionObserver.maximumRecordedBodySize)-byte limit)"
            )
        }
        object["traced"] = .bool(traceable && record.message != nil && record.snapshot != nil)
        if let message = record.message {
            object["message_id"] = message.body[MessageKey.messageID] ?? .null
            if trace, let snapshot = record.snapshot {
                let key = TraceCache.Key(
                    seed: record.seed, ruleSet: record.ruleSet.hash, message: message.body.contentHash,
                    registry: snapshot.version)
                let (text, json) = Self.traces.trace(of: key) {
                    // Replaying with the recorded seed reproduces the decision and its trace.
                    var random = FastRandom(seed: record.seed)
                    let explanation = record.ruleSet.explain(
                        message, in: snapshot, random: &random, now: record.at, maximumCandidates: Self.traceCandidates)
                    return (
                        explanation.render(),
                        explanation.json(ruleSet: record.ruleSet, snapshot: snapshot, message: message)
                    )
                }
                object["explanation"] = .string(text)
                object["trace"] = json
            }
        }
        return .object(object)
    }
}

extension AdminServer {
    /// `/shadow`: the shadow rules in force, the comparisons by (live route, shadow route, same),
    /// and the last divergent decisions with both traces (when traces are shown).
    static func shadowReport(_ shadow: ShadowRules?, traces: Bool, limit: Int) -> JSONValue {
        guard let shadow else {
            return .object(
                JSONObject([("enabled", .bool(false)), ("hint", .string("start with --shadow-rules PATH"))]))
        }
        let status = shadow.reloader.status
        let counts = shadow.counts.map { entry in
            JSONValue.object(
                JSONObject([
                    ("live_route", .string(entry.liveRoute)), ("shadow_route", .string(entry.shadowRoute)),
                    ("same", .bool(entry.same)), ("count", .number(JSONNumber(entry.count))),
                ]))
        }
        let divergences = shadow.recentDivergences(limit: limit).map { divergence -> JSONValue in
            let record = divergence.record
            var object = JSONObject([
                ("at", .string(ISO8601DateFormatter().string(from: record.at))),
                ("message_id", record.message?.body[MessageKey.messageID] ?? .null),
                ("live_route", record.decision?.route.map(JSONValue.string) ?? .null),
                ("fields", .array(divergence.fields.map { .string($0.rawValue) })),
            ])
            if traces, let message = record.message, let snapshot = record.snapshot {
                var live = FastRandom(seed: record.seed)
                var candidate = FastRandom(seed: record.seed)
                let liveTrace = record.ruleSet.explain(
                    message, in: snapshot, random: &live, now: record.at, maximumCandidates: Self.traceCandidates)
                let shadowTrace = divergence.shadow.explain(
                    message, in: snapshot, random: &candidate, now: record.at, maximumCandidates: Self.traceCandidates)
                object["shadow_route"] = shadowTrace.decision.route.map(JSONValue.string) ?? .null
                object["live"] = .string(liveTrace.render())
                object["shadow"] = .string(shadowTrace.render())
            }
            return .object(object)
        }
        return .object(
            JSONObject([
                ("enabled", .bool(true)), ("hash", .string(status.hash)),
                ("files", .array(status.files.map(JSONValue.string))),
                ("last_error", status.lastErrorJSON),
                ("decisions", .array(counts)), ("divergences", .array(divergences)),
            ]))
    }
}

/// Rendered traces by what decided them, at most ``capacity`` (all are dropped when it is
/// full: the recent decisions are explained again on demand).
final class TraceCache: Sendable {
    /// A decision: its seed (unique per decision of one router, but not across the daemons of
    /// one test process), the rules, the message and the registry snapshot it was decided with.
    struct Key: Hashable {
        var seed: UInt64
        var ruleSet: String
        var message: UInt64
        var registry: UInt64
    }

    static let capacity = 4_096
    private let entries = Mutex<[Key: (String, JSONValue)]>([:])

    func trace(of key: Key, _ make: () -> (String, JSONValue)) -> (String, JSONValue) {
        if let cached = entries.withLock({ $0[key] }) { return cached }
        let made = make()
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = made
        }
        return made
    }
}
