import BrokerCore
import Foundation
import WebSocketClient

/// Debian's Chromium, headless, driven over its DevTools protocol (one page, one WebSocket):
/// what the console's tests and `broker-dev bench-console` look at pages with. ``close()`` ends the
/// browser and every process it started.
public final class HeadlessBrowser: @unchecked Sendable {
    /// Where Debian's `chromium` package puts the browser.
    public static let defaultExecutable = "/usr/bin/chromium"

    private let process: Process
    private let output: URL
    private let session: DevToolsSession
    private let profile: URL

    private init(process: Process, output: URL, session: DevToolsSession, profile: URL) {
        self.process = process
        self.output = output
        self.session = session
        self.profile = profile
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: profile)
    }

    /// Starts the browser with an empty profile and a `width`×`height` window.
    ///   - niceness: the browser's scheduling priority (`nice`), 10 by default.
    public static func launch(
        executable: String = defaultExecutable, width: Int = 1280, height: Int = 1400, niceness: Int32 = 10
    ) async throws -> HeadlessBrowser {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw BrowserError(
                "no \(executable): install Debian's chromium package (scripts/install-deps.sh test does)")
        }
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("broker-chromium-\(UUID())")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let output = profile.appendingPathComponent("output.log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0", "--user-data-dir=\(profile.appendingPathComponent("data").path)",
            "--window-size=\(width),\(height)", "about:blank",
        ]
        process.environment = ["HOME": profile.path, "PATH": "/usr/bin:/bin"]
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // Below everything else (its renderers inherit it): a page rendering on a 2-core machine
        // must not starve the tests that run beside it.
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(process.processIdentifier), niceness)
        func log() -> String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
        do {
            var endpoint: String?
            try await poll("Chromium says where its DevTools listen", timeout: .seconds(30)) {
                guard process.isRunning else { throw BrowserError("Chromium exited:\n\(log())") }
                endpoint = log().split(separator: "\n").first { $0.hasPrefix("DevTools listening on ") }
                    .map { String($0.dropFirst("DevTools listening on ".count)) }
                return endpoint != nil
            }
            let session = try await DevToolsSession.connect(try pageEndpoint(browser: endpoint ?? ""))
            let browser = HeadlessBrowser(process: process, output: output, session: session, profile: profile)
            _ = try await session.send("Page.enable")
            _ = try await session.send("Runtime.enable")
            return browser
        } catch {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: profile)
            throw error
        }
    }

    /// The page's own DevTools endpoint: the browser's session names it.
    private static func pageEndpoint(browser endpoint: String) async throws -> String {
        let browserSession = try await DevToolsSession.connect(endpoint)
        let targets = try await browserSession.send("Target.getTargets")["targetInfos"]
        await browserSession.disconnect()
        guard case .array(let infos)? = targets,
            let page = infos.compactMap(\.objectValue).first(where: { $0["type"]?.stringValue == "page" }),
            let id = page["targetId"]?.stringValue, let path = endpoint.range(of: "/devtools/browser/")
        else { throw BrowserError("Chromium has no page: \(targets ?? .null)") }
        return endpoint[..<path.lowerBound] + "/devtools/page/" + id
    }

    /// Opens `url` and waits until its document has loaded and its deferred scripts ran.
    public func open(_ url: String, timeout: Duration = .seconds(15)) async throws {
        _ = try await session.send("Page.navigate", JSONObject([("url", .string(url))]))
        try await waitFor("document.readyState === 'complete'", what: "\(url) has loaded", timeout: timeout)
    }

    /// The value of the JavaScript expression `expression` (awaited when it is a promise).
    @discardableResult
    public func evaluate(_ expression: String) async throws -> JSONValue {
        let result = try await session.send(
            "Runtime.evaluate",
            JSONObject([
                ("expression", .string(expression)), ("returnByValue", .bool(true)), ("awaitPromise", .bool(true)),
            ]))
        if let exception = result["exceptionDetails"]?.objectValue {
            let text = exception["exception"]?.objectValue?["description"]?.stringValue ?? "\(exception)"
            throw BrowserError("the page threw evaluating `\(expression)`: \(text)")
        }
        return result["result"]?.objectValue?["value"] ?? .null
    }

    /// Waits until `expression` is true in the page (polled every 50 ms); throws after `timeout`.
    public func waitFor(_ expression: String, what: String, timeout: Duration = .seconds(15)) async throws {
        try await Self.poll(what, timeout: timeout) {
            try await self.evaluate("Boolean(\(expression))").boolValue == true
        }
    }

    /// Saves a PNG of the whole page (not only the window) to `file`.
    public func screenshot(to file: URL) async throws {
        let result = try await session.send(
            "Page.captureScreenshot", JSONObject([("format", .string("png")), ("captureBeyondViewport", .bool(true))]))
        guard let data = result["data"]?.stringValue.flatMap({ Data(base64Encoded: $0) }) else {
            throw BrowserError("Chromium sent no screenshot")
        }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file)
    }

    /// Closes the browser and waits for it (killed after 10 s); removes its profile.
    public func close() async {
        _ = try? await session.send("Browser.close")
        await session.disconnect()
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: profile)
    }

    /// The browser's last lines of output, for failure messages.
    public var logs: String {
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(20).joined(separator: "\n")
    }

    private static func poll(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(try await condition()) {
            guard ContinuousClock.now < deadline else {
                throw BrowserError("timed out after \(timeout) waiting until \(what)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// What went wrong with the browser or a page.
    public struct BrowserError: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}

/// One DevTools WebSocket: commands with ids, answers matched to them; events are ignored.
actor DevToolsSession {
    private var writer: WebSocketConnection.TextWriter?
    private var pending: [Int: CheckedContinuation<JSONObject, any Error>] = [:]
    private var nextID = 1
    private var reader: Task<Void, Never>?
    private var closed = false

    static func connect(_ url: String) async throws -> DevToolsSession {
        var settings = WebSocketConnection.Settings()
        settings.maximumMessageSize = 64 << 20  // full-page screenshots
        let connection = try await WebSocketConnection.open(try WebSocketEndpoint(url: url), settings: settings)
        let session = DevToolsSession()
        let (ready, signal) = AsyncStream.makeStream(of: Void.self)
        let reader = Task {
            try? await connection.run { texts, writer in
                await session.attach(writer)
                signal.yield()
                for try await text in texts { await session.receive(text) }
            }
            signal.finish()
            await session.fail(HeadlessBrowser.BrowserError("the DevTools connection closed"))
        }
        await session.keep(reader)
        for await _ in ready { break }
        return session
    }

    private func attach(_ writer: WebSocketConnection.TextWriter) { self.writer = writer }
    private func keep(_ reader: Task<Void, Never>) { self.reader = reader }

    /// Sends `method` with `parameters`; returns its `result`, or throws its `error`.
    func send(_ method: String, _ parameters: JSONObject = JSONObject()) async throws -> JSONObject {
        guard let writer, !closed else { throw HeadlessBrowser.BrowserError("the DevTools connection is closed") }
        let id = nextID
        nextID += 1
        let command = JSONObject([
            ("id", .number(JSONNumber(id))), ("method", .string(method)), ("params", .object(parameters)),
        ])
        return try await withCheckedThrowingContinuation { continuation in
            pending[id] = continuation
            Task {
                do {
                    try await writer.send(JSONWriter.string(.object(command)))
                } catch {
                    self.answer(id, .failure(error))
                }
            }
        }
    }

    private func receive(_ text: String) {
        guard case .object(let message)? = try? JSONParser.parse(text),
            let id = message["id"]?.numericValue.map({ Int($0) })
        else { return }
        if let error = message["error"]?.objectValue {
            let text = error["message"]?.stringValue ?? "\(error)"
            answer(id, .failure(HeadlessBrowser.BrowserError("DevTools: \(text)")))
        } else {
            answer(id, .success(message["result"]?.objectValue ?? JSONObject()))
        }
    }

    private func answer(_ id: Int, _ result: Result<JSONObject, any Error>) {
        pending.removeValue(forKey: id)?.resume(with: result)
    }

    private func fail(_ error: any Error) {
        closed = true
        for continuation in pending.values { continuation.resume(throwing: error) }
        pending.removeAll()
    }

    func disconnect() {
        reader?.cancel()
        fail(HeadlessBrowser.BrowserError("disconnected"))
    }
}
