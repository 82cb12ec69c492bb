import BrokerCore
import Foundation
import ServerLinkWebSocket
import Testing

/// Debian's Chromium, headless, driven over its DevTools protocol (one page, one WebSocket):
/// what the console tests look at pages with. `close()` ends the browser and every process it
/// started; so does the value going away.
public final class HeadlessBrowser: @unchecked Sendable {
    /// Where Debian's `chromium` package puts the browser.
    public static let executable = URL(fileURLWithPath: "/usr/bin/chromium")

    let process: ChildProcess
    let session: DevToolsSession
    let profile: URL

    private init(process: ChildProcess, session: DevToolsSession, profile: URL) {
        self.process = process
        self.session = session
        self.profile = profile
    }

    /// Starts the browser with an empty profile and a `width`×`height` window; fails the test
    /// loudly (not a skip) when Chromium is not installed: `make test` installs it.
    public static func launch(width: Int = 1280, height: Int = 1400) async throws -> HeadlessBrowser {
        try #require(
            FileManager.default.isExecutableFile(atPath: executable.path),
            "no \(executable.path): install Debian's chromium package (scripts/install-deps.sh test does)")
        let profile = temporaryPath("chromium-profile")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let process = try ChildProcess(
            "chromium", executable: executable,
            arguments: [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0", "--user-data-dir=\(profile.path)", "--window-size=\(width),\(height)",
                "about:blank",
            ],
            environment: ["HOME": profile.path])
        var browserURL: String?
        try await eventually("Chromium says where its DevTools listen", timeout: .seconds(30)) {
            guard process.isRunning else { throw BrowserError("Chromium exited\n\(process.tail())") }
            browserURL = process.output.split(separator: "\n").first { $0.hasPrefix("DevTools listening on ") }
                .map { String($0.dropFirst("DevTools listening on ".count)) }
            return browserURL != nil
        }
        // The browser's own session names the page; the page has a session of its own.
        let endpoint = try #require(browserURL)
        let browserSession = try await DevToolsSession.connect(endpoint)
        let targets = try await browserSession.send("Target.getTargets")["targetInfos"]
        await browserSession.disconnect()
        guard case .array(let infos)? = targets,
            let page = infos.compactMap(\.objectValue).first(where: { $0["type"]?.stringValue == "page" }),
            let id = page["targetId"]?.stringValue, let host = endpoint.range(of: "/devtools/browser/")
        else { throw BrowserError("Chromium has no page: \(targets ?? .null)") }
        let pageURL = endpoint[..<host.lowerBound] + "/devtools/page/" + id
        let session = try await DevToolsSession.connect(String(pageURL))
        let browser = HeadlessBrowser(process: process, session: session, profile: profile)
        _ = try await browser.session.send("Page.enable")
        _ = try await browser.session.send("Runtime.enable")
        return browser
    }

    /// Opens `url` and waits until its document has loaded and its deferred scripts ran.
    public func open(_ url: String) async throws {
        _ = try await session.send("Page.navigate", JSONObject([("url", .string(url))]))
        try await waitFor("document.readyState === 'complete'", what: "\(url) has loaded")
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

    /// Waits until `expression` is true in the page (polled every 100 ms).
    public func waitFor(
        _ expression: String, what: String, timeout: Duration = .seconds(15),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await eventually(what, timeout: timeout, every: .milliseconds(100), sourceLocation: sourceLocation) {
            try await evaluate("Boolean(\(expression))").boolValue == true
        }
    }

    /// Saves a PNG of the whole page (not only the window) to `file`.
    public func screenshot(to file: URL) async throws {
        let result = try await session.send(
            "Page.captureScreenshot", JSONObject([("format", .string("png")), ("captureBeyondViewport", .bool(true))]))
        let data = try #require(result["data"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: file)
    }

    /// Closes the browser and waits for it (killed after 10 s); removes its profile.
    public func close() async {
        _ = try? await session.send("Browser.close")
        await session.disconnect()
        await process.stop(timeout: .seconds(10))
        try? FileManager.default.removeItem(at: profile)
    }

    /// The browser's output, for failure messages.
    public var logs: String { process.tail(20) }

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
