import BrokerCore
import BrokerDaemon
import Foundation
import InMemoryTransport
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One request with a body and headers; returns the status, the headers and the body.
func exchange(
    _ method: String, _ url: String, body: [UInt8] = [], headers: [String: String] = [:]
) async throws -> (status: Int, headers: [String: String], body: String) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    if !body.isEmpty { request.httpBody = Data(body) }
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = response as? HTTPURLResponse
    var fields: [String: String] = [:]
    for (name, value) in http?.allHeaderFields ?? [:] { fields["\(name)".lowercased()] = "\(value)" }
    return (http?.statusCode ?? 0, fields, String(decoding: data, as: UTF8.self))
}

/// The console's pages, files and JSON on a daemon with in-memory queues (the browser test,
/// in AMQPIntegrationTests, looks at the rendered pages).
@Suite(.serialized, .timeLimit(.minutes(10))) struct ConsoleEndpointTests {
    static let json = ["Content-Type": "application/json"]

    @Test func pagesForbidInlineAndRemoteScriptsAndCarryNone() async throws {
        try await withMemoryDaemon { _, _, base in
            for path in ["/console", "/console/agents", "/console/decisions", "/console/try"] {
                let page = try await exchange("GET", base + path)
                #expect(page.status == 200, "\(path)")
                let policy = page.headers["content-security-policy"] ?? ""
                #expect(policy.contains("script-src 'self'") && policy.contains("default-src 'none'"), "\(path)")
                #expect(!policy.contains("unsafe-inline") && !policy.contains("http"), "\(path): \(policy)")
                #expect(page.headers["x-content-type-options"] == "nosniff")
                // No inline script, no inline style, no remote anything.
                let scripts = page.body.components(separatedBy: "<script").dropFirst()
                #expect(scripts.allSatisfy { $0.hasPrefix(#" src="/console/assets/"#) }, "\(path)")
                #expect(
                    !page.body.contains("style=") && !page.body.contains("http://") && !page.body.contains("https://"))
            }
            let script = try await exchange("GET", base + "/console/assets/console.js")
            #expect(script.status == 200 && script.headers["content-type"]?.hasPrefix("text/javascript") == true)
            #expect(script.body.contains("function drawEdges"))
            let style = try await exchange("GET", base + "/console/assets/console.css")
            #expect(style.status == 200 && style.headers["content-type"]?.hasPrefix("text/css") == true)
            // The JSON endpoints are where they were.
            #expect(try await exchange("GET", base + "/rules").headers["content-type"] == "application/json")
        }
    }

    @Test func aTrialDecidesWithTheLiveRulesAndRegistryAndPublishesNothing() async throws {
        try await withMemoryDaemon { daemon, queues, base in
            let message = #"{"message": {"message_type": "TEXT", "message_id": "t1", "sender_id": "agent_ed38e8b1"}}"#
            let answer = try await exchange("POST", base + "/-/try", body: Array(message.utf8), headers: Self.json)
            #expect(answer.status == 200, "\(answer.body)")
            let trace = try #require(try JSONParser.parse(answer.body).objectValue?["trace"]?.objectValue)
            #expect(trace["decision"]?.objectValue?["route"] == "stamp-one")
            #expect(trace["rule_set"]?.objectValue?["hash"]?.stringValue == daemon.reloader.holder.current.hash)
            guard case .array(let deliveries)? = trace["decision"]?.objectValue?["deliveries"] else {
                Issue.record("no deliveries: \(answer.body)")
                return
            }
            #expect(deliveries.first?.objectValue?["message"]?.objectValue?["rules_version"] == "one")
            #expect(queues.contents(of: "server_input_queue").isEmpty, "a trial publishes nothing")
            #expect(daemon.router.statistics.settled == 0 && daemon.decisionObserver.decisionCounts.total == 0)

            // Pasted rules: used instead, or every diagnostic with its line and column.
            let pasted =
                #"{"message": {"message_type": "TEXT"}, "rules": "version: 1\nroutes:\n  - name: x\n    whn: {}\n"}"#
            let invalid = try await exchange("POST", base + "/-/try", body: Array(pasted.utf8), headers: Self.json)
            #expect(invalid.status == 422)
            #expect(invalid.body.contains(#""line":4"#) && invalid.body.contains(#""column":5"#))
            #expect(invalid.body.contains("pasted.yaml:4:5: error: unknown key 'whn'"), "\(invalid.body)")
            let other =
                #"{"message": {"message_type": "TEXT"}, "rules": "version: 1\nroutes:\n  - { name: y, drop: test }\n"}"#
            let tried = try await exchange("POST", base + "/-/try", body: Array(other.utf8), headers: Self.json)
            #expect(
                tried.status == 200 && tried.body.contains(#""rules":"pasted""#)
                    && tried.body.contains(#""outcome":"drop""#))
        }
    }

    @Test func aTrialIsBoundedInSizeAndShapeAndNeedsTheTokenWhereTheJSONEndpointsDo() async throws {
        try await withMemoryDaemon { _, _, base in
            let big = #"{"message": {"text_payload": ""# + String(repeating: "x", count: 300 << 10) + #""}}"#
            #expect(
                try await exchange("POST", base + "/-/try", body: Array(big.utf8), headers: Self.json).status == 413)
            let form = try await exchange(
                "POST", base + "/-/try", body: Array("message=x".utf8),
                headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(form.status == 415, "a cross-site form cannot post a trial")
            let notAnObject = try await exchange("POST", base + "/-/try", body: Array("[1]".utf8), headers: Self.json)
            #expect(notAnObject.status == 400 && notAnObject.body.contains("JSON object"))
        }
        try await withMemoryDaemon(adjust: {
            $0.admin.host = "0.0.0.0"
            $0.admin.token = "s3cret"
        }) { _, _, base in
            let message = Array(#"{"message": {"message_type": "TEXT"}}"#.utf8)
            #expect(try await exchange("POST", base + "/-/try", body: message, headers: Self.json).status == 401)
            let allowed = try await exchange(
                "POST", base + "/-/try", body: message,
                headers: Self.json.merging(["Authorization": "Bearer s3cret"]) { $1 })
            #expect(allowed.status == 200)
            // The pages hold nothing the token guards: their script asks for it when an endpoint does.
            #expect(try await exchange("GET", base + "/console/decisions").status == 200)
            #expect(try await exchange("GET", base + "/decisions").status == 401)
        }
    }

    /// Two trials of a 100 KB message against costly pasted patterns answered after 34 s while
    /// `/healthz` took 32 s and routing stalled: the time limit now stops the work, which runs
    /// beside the routing path, not on it; pasted rules have a budget for their patterns.
    @Test func aTrialStopsAtItsTimeLimitAndLeavesTheBrokerResponsive() async throws {
        try await withMemoryDaemon { daemon, queues, base in
            let routes = (0..<150).map {
                "  - name: r\($0)\n    when: { message.text: { matches: '(a|b){1,200}c' } }\n    deliver: as_is\n"
            }
            let rules = "version: 1\nroutes:\n" + routes.joined()
            let text = String(repeating: "ab", count: 50_000)
            let request = JSONValue.object(
                JSONObject([("message", .object(JSONObject([("text", .string(text))]))), ("rules", .string(rules))]))
            var body: [UInt8] = []
            JSONWriter.write(request, into: &body)
            let clock = ContinuousClock()
            let started = clock.now
            async let first = exchange("POST", base + "/-/try", body: body, headers: Self.json)
            async let second = exchange("POST", base + "/-/try", body: body, headers: Self.json)
            try await pace(.milliseconds(500))  // the trials under way
            let probe = clock.now
            #expect(try await exchange("GET", base + "/healthz").status == 200)
            for i in 0..<20 {
                queues.enqueue(Array(#"{"message_type":"TEXT","message_id":"m\#(i)"}"#.utf8), to: "broker_input_queue")
            }
            try await eventually("twenty are settled") { daemon.router.statistics.settled >= 20 }
            let responsive = clock.now - probe
            let answers = try await [first, second]
            let elapsed = clock.now - started
            for answer in answers {
                #expect(answer.status == 503 && answer.body.contains("was stopped"), "\(answer.status) \(answer.body)")
            }
            #expect(elapsed < .seconds(6), "two trials limited to 2 s answered after \(elapsed)")
            #expect(responsive < .seconds(2), "health and routing took \(responsive) while trials ran")

            let budget =
                "version: 1\nroutes:\n"
                + (0..<12).map {
                    "  - name: r\($0)\n    when: { message.text: { matches: '(a{1000}){19}' } }\n    deliver: as_is\n"
                }.joined()
            let overBudget = JSONValue.object(
                JSONObject([("message", .object(JSONObject([("text", .string("a"))]))), ("rules", .string(budget))]))
            var refusedBody: [UInt8] = []
            JSONWriter.write(overBudget, into: &refusedBody)
            let refused = try await exchange("POST", base + "/-/try", body: refusedBody, headers: Self.json)
            #expect(
                refused.status == 422 && refused.body.contains("more than 200000 automaton steps"), "\(refused.body)")
        }
    }

    @Test func countsFiltersAndSortsAreWhatThePagesShow() async throws {
        try await withMemoryDaemon { daemon, queues, base in
            for i in 0..<6 {
                queues.enqueue(Array(#"{"message_type":"TEXT","message_id":"m\#(i)"}"#.utf8), to: "broker_input_queue")
            }
            queues.enqueue(Array(#"{"message_type":"OTHER","message_id":"x"}"#.utf8), to: "broker_input_queue")
            try await eventually("seven are settled") { daemon.router.statistics.settled >= 7 }
            let stats = try JSONParser.parse(try await exchange("GET", base + "/stats").body).objectValue
            #expect(stats?["decisions"] == 7)
            #expect(stats?["routes"]?.objectValue?["stamp-one"]?.objectValue?["published"] == 6)
            #expect(stats?["synced"] == .bool(true) && stats?["agents"] == 3)

            let outline = try await exchange("GET", base + "/rules/outline")
            #expect(outline.body.contains(#""name":"stamp-one""#) && outline.body.contains(#""kind":"on_no_route""#))

            let dead = try await exchange("GET", base + "/decisions?outcome=dead_letter_no_route")
            guard case .array(let records) = try JSONParser.parse(dead.body) else {
                Issue.record("not a list: \(dead.body)")
                return
            }
            #expect(records.count == 1 && records.first?.objectValue?["message_id"] == "x")
            #expect(records.first?.objectValue?["trace"]?.objectValue?["steps"] != nil)
            // The console's list: no traces, each fetched by id when opened.
            let list = try JSONParser.parse(try await exchange("GET", base + "/decisions?traces=0&limit=3").body)
            guard case .array(let summaries) = list, let first = summaries.first?.objectValue,
                let id = first["id"]?.stringValue
            else {
                Issue.record("no list: \(list)")
                return
            }
            #expect(summaries.count == 3 && first["trace"] == nil && first["traced"] == .bool(true))
            let one = try JSONParser.parse(try await exchange("GET", base + "/decisions?id=\(id)").body)
            if case .array(let found) = one {
                #expect(found.count == 1 && found.first?.objectValue?["trace"]?.objectValue?["steps"] != nil)
            }
            let routed = try JSONParser.parse(
                try await exchange("GET", base + "/decisions?route=stamp-one&limit=50").body)
            if case .array(let items) = routed { #expect(items.count == 6) }

            let byName = try await exchange("GET", base + "/agents?q=bo")
            #expect(byName.body.contains(#""matched":1"#) && byName.body.contains("agent_acd0c602"))
            let busiest = try JSONParser.parse(
                try await exchange("GET", base + "/agents?sort=decisions&order=desc").body)
            guard case .array(let agents)? = busiest.objectValue?["agents"] else {
                Issue.record("no agents")
                return
            }
            let received = agents.compactMap { $0.objectValue?["decisions"]?.numericValue }
            #expect(received == received.sorted(by: >) && received.reduce(0, +) == 6, "\(received)")
            #expect(try await exchange("GET", base + "/agents?online=false").body.contains(#""matched":0"#))
        }
    }

    /// Anyone on the admin port may search the agents, and each search reads the whole registry:
    /// eight clients polling one search slowed routing tenfold with 100,000 agents. The same
    /// search is answered from its last result; at most four are computed a second.
    @Test func agentSearchesAreAnsweredFromTheLastResultAndBounded() async throws {
        try await withMemoryDaemon { daemon, _, base in
            let before = daemon.admin.agentQueries.computations
            let started = ContinuousClock.now
            for _ in 0..<40 {
                let answer = try await exchange("GET", base + "/agents?q=agent&sort=last_seen")
                #expect(answer.status == 200)
            }
            #expect(daemon.admin.agentQueries.computations - before == 1, "40 polls of one search on one registry")
            var statuses: [Int] = []
            var retryAfter: String?
            for i in 0..<12 {
                let answer = try await exchange("GET", base + "/agents?q=a\(i)")
                statuses.append(answer.status)
                if answer.status == 429 { retryAfter = answer.headers["retry-after"] }
            }
            // At most four are computed a second (the first search above may be one of them); a
            // loaded machine may spread these requests over more than one second.
            let seconds = (ContinuousClock.now - started).components.seconds
            let computed = statuses.filter { $0 == 200 }.count
            #expect(computed >= 1 && computed <= 4 * (Int(seconds) + 2), "\(statuses) in \(seconds) s")
            if seconds == 0 {
                #expect(computed <= 4 && statuses.contains(429), "12 different searches at once: \(statuses)")
                #expect(retryAfter == "1")
            }
        }
    }
}
