import HTTPTypes
import Hummingbird

/// The Fetch Metadata header browsers send with every request.
private let fetchSite = HTTPField.Name("Sec-Fetch-Site")!

/// Answers 403 to a request that changes something (any method but GET and HEAD) when a browser
/// says it comes from another site: `Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin`
/// whose host and port are not the request's own `Host`. A page on another origin could
/// otherwise reload the rules with a plain form post (CSRF): the token does not help on loopback,
/// where none is needed. Clients that are not browsers (curl, scripts, Prometheus) send neither
/// header and are not affected.
struct SameOriginWrites<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard request.method != .get, request.method != .head else { return try await next(request, context) }
        if let site = request.headers[fetchSite]?.lowercased(), site == "cross-site" || site == "same-site" {
            return Self.refuse("a request from another site (Sec-Fetch-Site: \(site))")
        }
        // `Origin: null` (a sandboxed frame, a file) matches no host either.
        if let origin = request.headers[.origin] {
            let host = request.head.authority?.lowercased()
            guard let host, Self.authority(ofOrigin: origin) == host else {
                return Self.refuse("Origin \(origin.debugDescription) is not this server (\(host ?? "no Host"))")
            }
        }
        return try await next(request, context)
    }

    /// `http://127.0.0.1:7391` → `127.0.0.1:7391`; lowercased; nil when it is not a URL origin.
    static func authority(ofOrigin origin: String) -> String? {
        guard let scheme = origin.range(of: "://") else { return nil }
        let rest = origin[scheme.upperBound...]
        guard !rest.isEmpty, !rest.contains("/") else { return nil }
        return rest.lowercased()
    }

    static func refuse(_ why: String) -> Response {
        Response(
            status: .forbidden, headers: [.contentType: "text/plain"],
            body: .init(byteBuffer: ByteBuffer(string: "refused: \(why)\n")))
    }
}
