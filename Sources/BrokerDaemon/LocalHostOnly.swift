import Hummingbird

/// The names a loopback request carries in `Host` (without the port).
private let loopbackHostNames: Set<String> = ["localhost", "127.0.0.1", "[::1]", "::1"]

/// Answers 403 to a request whose `Host` is not a loopback name (`localhost`, `127.0.0.1`,
/// `[::1]`, any port): the admin server without a token trusts whoever can reach loopback, and
/// a web page reaching it through DNS rebinding names its own host.
struct LocalHostOnly<Context: RequestContext>: RouterMiddleware {

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let host = request.head.authority else {
            return try await next(request, context)  // HTTP/1.0 without Host: not a browser
        }
        guard loopbackHostNames.contains(Self.hostName(host).lowercased()) else {
            return Response(
                status: .forbidden, headers: [.contentType: "text/plain"],
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: "Host '\(host)' is not a loopback name; set --admin-token to serve other names\n")))
        }
        return try await next(request, context)
    }

    /// `host` without its port (`[::1]:7391` → `[::1]`, `localhost:7391` → `localhost`).
    static func hostName(_ host: String) -> String {
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") { return String(host[...end]) }
        return String(host.split(separator: ":", maxSplits: 1).first ?? "")
    }
}
