import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One HTTP request; returns the status (0 when nothing answered) and the body.
public func http(_ method: String, _ url: String, timeout: TimeInterval = 5) async -> (status: Int, body: String) {
    guard let target = URL(string: url) else { return (0, "") }
    var request = URLRequest(url: target, timeoutInterval: timeout)
    request.httpMethod = method
    guard let (data, response) = try? await URLSession.shared.data(for: request) else { return (0, "") }
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}
