/// `url` with the password of its user information replaced by `***`, for every log line and
/// error that quotes a URL (`amqp://broker:***@mq:5672/`, `ws://ops:***@server/ws`). The user
/// information is what precedes the last `@` of the authority (which ends at the first `/`,
/// `?` or `#`), so a password containing `@` is hidden whole. Text that is not a URL but has an
/// `@` (`ws//user:password@host`, `user:password@host`) keeps only what follows its last `@`.
public func redactingPassword(in url: String) -> String {
    guard let scheme = url.range(of: "://") else {
        guard let at = url.lastIndex(of: "@") else { return url }
        return "***" + url[at...]
    }
    let rest = url[scheme.upperBound...]
    let authority = rest[..<(rest.firstIndex { "/?#".contains($0) } ?? rest.endIndex)]
    guard let at = authority.lastIndex(of: "@") else { return url }
    let credentials = url[scheme.upperBound..<at]
    guard let colon = credentials.firstIndex(of: ":") else { return url }
    return String(url[..<colon]) + ":***" + String(url[at...])
}
