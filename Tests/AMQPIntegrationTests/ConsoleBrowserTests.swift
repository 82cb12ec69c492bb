import BrokerCore
import BrowserAutomation
import Foundation
import RoutingRules
import TestSupport
import Testing

/// The admin console in a real browser (headless Chromium over its DevTools protocol) against
/// the whole system: the simulator, `broker run` and RabbitMQ. Screenshots of every page go to
/// `BROKER_SCREENSHOTS` (default `.build/console-screenshots`).
@Suite(.serialized, .timeLimit(.minutes(10))) struct ConsoleBrowserTests {
    static let screenshots = URL(
        fileURLWithPath: ProcessInfo.processInfo.environment["BROKER_SCREENSHOTS"]
            ?? repositoryRoot.appendingPathComponent(".build/console-screenshots").path)

    /// The texts of the elements `selector` matches, in page order.
    static func texts(_ selector: String, attribute: String? = nil) -> String {
        let read = attribute.map { "e.getAttribute('\($0)')" } ?? "e.textContent.trim()"
        return "[...document.querySelectorAll(\(literal(selector)))].map(e => \(read))"
    }

    /// `text` as a JavaScript string literal.
    static func literal(_ text: String) -> String { JSONWriter.string(.string(text)) }

    static func strings(_ value: JSONValue) -> [String] {
        guard case .array(let items) = value else { return [] }
        return items.compactMap(\.stringValue)
    }

    @Test func theConsoleDrawsTheRulesCountsDecisionsFollowsAgentsAndTriesMessages() async throws {
        try await withWholeSystem(agents: 3) { system in
            try system.startBroker()
            try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
            let browser = try await HeadlessBrowser.launch()
            do {
                try await check(system, browser)
            } catch {
                Issue.record("browser output:\n\(browser.logs)")
                await browser.close()
                throw error
            }
            await browser.close()
        }
    }

    private func check(_ system: WholeSystem, _ browser: HeadlessBrowser) async throws {
        let base = "http://127.0.0.1:\(system.adminPort)"
        let rulesText = try String(contentsOf: system.rulesFile, encoding: .utf8)
        let outline = RuleSetOutline(
            try #require(RuleSetLoader().load([RuleSource(name: "rules.yaml", text: rulesText)]).ruleSet))

        // Rules: every route of rules/default.yaml drawn, in evaluation order, with its otherwise edges.
        try await browser.open(base + "/console")
        try await browser.waitFor("document.querySelectorAll('path.edge.otherwise').length > 0", what: "edges drawn")
        #expect(
            Self.strings(try await browser.evaluate(Self.texts(".route", attribute: "data-route")))
                == outline.routes.map(\.name))
        let edges = Self.strings(
            try await browser.evaluate(
                "[...document.querySelectorAll('path.edge.otherwise')].map(p => p.dataset.from + ' -> ' + p.dataset.to)"
            ))
        #expect(edges == outline.routes.compactMap { route in route.otherwise.map { "\(route.name) -> \($0)" } })
        #expect(edges.count == 2)
        // The evaluation order ends in the on_no_route fallback.
        #expect(
            try await browser.evaluate("[...document.querySelectorAll('path.edge.next')].pop().dataset.to")
                == "on_no_route")
        let random = "[data-route=\"random-online-agent\"] .total"
        #expect(try await browser.evaluate("document.querySelector('\(random)').textContent") == "0")

        // Counts move, with no reload of the page.
        try await browser.evaluate("window.sameDocument = true")
        try await system.vhost.publish((1...5).map { text("c\($0)", from: "web_1") }, to: "server_input_queue")
        try await browser.waitFor(
            "Number(document.querySelector('\(random)').textContent) >= 5", what: "the route's count reaches 5")
        #expect(try await browser.evaluate("window.sameDocument") == .bool(true))
        #expect(
            try await browser.evaluate("Number(document.getElementById('decisions-total').textContent) >= 5") == true)
        try await browser.screenshot(to: Self.screenshots.appendingPathComponent("rules.png"))

        // Agents: an agent going offline in the simulator shows as offline.
        let agents = try await system.status().agents
        let gone = try #require(agents.first?.id)
        try await browser.open(base + "/console/agents")
        try await browser.waitFor(
            "document.querySelectorAll('#agent-rows tr').length === \(agents.count)", what: "every agent is listed")
        let row = "document.querySelector('tr[data-agent-id=\"\(gone)\"]')"
        #expect(try await browser.evaluate("\(row).dataset.online") == "true")
        try await system.setOnline(gone, false)
        try await browser.waitFor(
            "\(row).dataset.online === 'false' && \(row).querySelector('.state').textContent === 'offline'",
            what: "\(gone) shows as offline")
        #expect(try await browser.evaluate("document.getElementById('sync').textContent.startsWith('synced')") == true)
        try await browser.evaluate(
            "document.getElementById('agent-query').value = \(Self.literal(gone)); "
                + "document.getElementById('agent-query').dispatchEvent(new Event('input'))")
        try await browser.waitFor(
            "document.querySelectorAll('#agent-rows tr').length === 1", what: "the filter applies")
        try await browser.screenshot(to: Self.screenshots.appendingPathComponent("agents.png"))

        // Decisions, with their traces.
        try await browser.open(base + "/console/decisions")
        try await browser.waitFor(
            "document.querySelectorAll('li.decision[data-route=\"random-online-agent\"]').length >= 5",
            what: "the decisions are listed")
        try await browser.evaluate("document.querySelector('li.decision details.trace-box').open = true")
        try await browser.waitFor(
            "document.querySelector('li.decision:first-child .step')", what: "the trace loads when opened")
        let steps = Self.strings(try await browser.evaluate(Self.texts("li.decision:first-child .step strong")))
        #expect(steps.last == "random-online-agent")
        #expect(
            try await browser.evaluate("document.querySelector('li.decision:first-child .step.held') !== null") == true)
        try await browser.screenshot(to: Self.screenshots.appendingPathComponent("decisions.png"))

        try await tryIt(system, browser, base: base)
        try await invalidReload(system, browser, base: base)

        // The daemon going away: the page says so, and keeps what it showed.
        await system.broker?.stop()
        try await browser.waitFor("!document.getElementById('lost').hidden", what: "the page says it lost the daemon")
        #expect(
            (try await browser.evaluate("document.getElementById('lost').textContent")).stringValue?.hasPrefix(
                "Lost the daemon at") == true)
        #expect(try await browser.evaluate("document.querySelectorAll('.route').length > 0") == true)
    }

    /// Away from loopback the console asks for the admin token once and keeps it for the session.
    @Test func theConsoleAsksForTheTokenOnceAndKeepsItForTheSession() async throws {
        try await withWholeSystem(agents: 2) { system in
            try system.startBroker(["--admin-token", "console-s3cret"], adminHost: "0.0.0.0")
            try await eventually("the broker is ready", timeout: .seconds(30)) { await system.brokerReady() }
            try await system.vhost.publish([text("t1", from: "web_1")], to: "server_input_queue")
            let browser = try await HeadlessBrowser.launch()
            do {
                let base = "http://127.0.0.1:\(system.adminPort)"
                try await browser.open(base + "/console/decisions")
                try await browser.waitFor(
                    "!document.getElementById('token-form').hidden", what: "the token is asked for")
                #expect(try await browser.evaluate("document.querySelectorAll('li.decision').length") == 0)
                try await browser.evaluate(
                    "document.getElementById('token-input').value = 'console-s3cret'; "
                        + "document.getElementById('token-form').requestSubmit()")
                try await browser.waitFor(
                    "document.querySelector('li.decision')", what: "the decisions load with the token")
                #expect(try await browser.evaluate("document.getElementById('token-form').hidden") == true)
                // Kept for the session: another page does not ask again.
                try await browser.open(base + "/console/try")
                try await browser.evaluate("document.getElementById('try-run').click()")
                try await browser.waitFor(
                    "document.querySelector('#try-result .decision-line')", what: "the trial answers")
                #expect(try await browser.evaluate("document.getElementById('token-form').hidden") == true)
                #expect(try await browser.evaluate("sessionStorage.length") == 1)
                #expect(try await browser.evaluate("localStorage.length") == 0, "never kept beyond the session")
            } catch {
                Issue.record("browser output:\n\(browser.logs)")
                await browser.close()
                throw error
            }
            await browser.close()
        }
    }

    /// The try-it box returns the trace of a known case of the original broker.
    private func tryIt(_ system: WholeSystem, _ browser: HeadlessBrowser, base: String) async throws {
        let cases = try String(
            contentsOf: repositoryRoot.appendingPathComponent(
                "Tests/RoutingRulesTests/Corpus/original-broker-cases.jsonl"),
            encoding: .utf8)
        let known = try #require(
            cases.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)).objectValue }.first {
                $0["case"]?.stringValue == "d_error_no_routing_status"
            })
        let input = try #require(known["input"]?.stringValue)
        let expected = try #require(
            known["original_output"]?.stringValue.flatMap { try? JSONParser.parse($0).objectValue })
        let before = try system.vhost.count("server_input_queue")
        try await browser.open(base + "/console/try")
        try await browser.evaluate(
            "document.getElementById('try-message').value = \(Self.literal(input)); "
                + "document.getElementById('try-run').click()")
        try await browser.waitFor("document.querySelector('#try-result .decision-line')", what: "the trial answers")
        let steps = Self.strings(try await browser.evaluate(Self.texts("#try-result .step")))
        #expect(steps.count == 2 && steps[0].hasPrefix("✗ error-pending") && steps[1].hasPrefix("✓ error-to-server"))
        #expect(steps[0].contains("message.routing_status"))
        let edited = try await browser.evaluate(
            "JSON.parse(document.querySelector('#try-result .deliveries pre').textContent)")
        #expect(edited.objectValue?["routing_status"] == expected["routing_status"])
        #expect(
            (try await browser.evaluate("document.querySelector('#try-result .decision-line').textContent"))
                .stringValue?
                .hasPrefix("deliver · by error-to-server") == true)
        try await browser.screenshot(to: Self.screenshots.appendingPathComponent("try.png"))
        #expect(try system.vhost.count("server_input_queue") == before, "a trial publishes nothing")

        // Pasted rules that do not compile: every diagnostic at its line, nothing evaluated.
        let broken =
            "version: 1\nroutes:\n  - name: typo\n    whn: { message.message_type: TEXT }\n    deliver: as_is\n"
        try await browser.evaluate(
            "document.getElementById('try-rules').value = \(Self.literal(broken)); "
                + "document.getElementById('try-run').click()")
        try await browser.waitFor(
            "document.querySelector('#try-result .listing .diagnostic')", what: "diagnostics shown")
        let marked = try await browser.evaluate(
            "document.querySelector('#try-result .listing .diagnostic').previousElementSibling.textContent")
        #expect(marked.stringValue?.contains("whn:") == true, "the diagnostic is under the line it is about")
        #expect(
            (try await browser.evaluate("document.querySelector('#try-result .listing .diagnostic').textContent"))
                .stringValue?.hasPrefix("4:5: error:") == true)
    }

    /// A reload that fails is impossible to miss: its diagnostic on every page.
    private func invalidReload(_ system: WholeSystem, _ browser: HeadlessBrowser, base: String) async throws {
        try await browser.open(base + "/console")
        #expect(try await browser.evaluate("document.getElementById('reload-error').hidden") == true)
        let good = try String(contentsOf: system.rulesFile, encoding: .utf8)
        try good.replacingOccurrences(
            of: "    when: { message.message_type: AGENT_STATUS_UPDATE }", with: "    whn: {}"
        )
        .write(to: system.rulesFile, atomically: true, encoding: .utf8)
        _ = await http("POST", base + "/-/reload")
        try await browser.waitFor(
            "!document.getElementById('reload-error').hidden", what: "the failed reload's banner shows")
        let banner = try await browser.evaluate("document.getElementById('reload-error').textContent")
        #expect(banner.stringValue?.contains("rules.yaml:17:5: error:") == true, "\(banner)")
        #expect(banner.stringValue?.contains("whn") == true)
        try await browser.screenshot(to: Self.screenshots.appendingPathComponent("rules-reload-failed.png"))
        // Routing goes on with the rules in force.
        try await system.vhost.publish([text("after", from: "web_1")], to: "server_input_queue")
        try await browser.waitFor(
            "Number(document.querySelector('[data-route=\"random-online-agent\"] .total').textContent) >= 6",
            what: "the rules in force still route")
        try good.write(to: system.rulesFile, atomically: true, encoding: .utf8)
    }
}
