import Foundation

/// The frame every console page shares: head, navigation, the banners the script fills (a
/// failed reload, a lost daemon, a token prompt), and the strict headers it is served with.
///
/// Pages are rendered on the server from the daemon's own state; `console.js` keeps them live
/// by polling the JSON endpoints. Nothing is inline (the policy forbids inline scripts and styles)
/// and nothing is fetched from elsewhere.
struct ConsolePage {
    enum Section: String, CaseIterable {
        case rules = "Rules"
        case agents = "Agents"
        case decisions = "Decisions"
        case tryIt = "Try it"

        var path: String {
            switch self {
            case .rules: "/console"
            case .agents: "/console/agents"
            case .decisions: "/console/decisions"
            case .tryIt: "/console/try"
            }
        }
    }

    var section: Section
    /// The page's own content (already escaped HTML).
    var body: String

    /// The policy every console response carries: scripts and styles from the daemon's own
    /// files only, requests to the daemon only, no frames, no plugins, no forms elsewhere.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    var html: String {
        let navigation = Section.allCases.map { item in
            let current = item == section ? #" aria-current="page""# : ""
            return #"<a href="\#(item.path)"\#(current)>\#(HTML.escape(item.rawValue))</a>"#
        }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>broker · \(HTML.escape(section.rawValue))</title>
            <link rel="stylesheet" href="/console/assets/console.css">
            <script src="/console/assets/console.js" defer></script>
            </head>
            <body data-page="\(section)">
            <header class="top">
            <span class="brand">broker</span>
            <nav>\(navigation)</nav>
            <span class="live" id="live" title="updates every second">live</span>
            </header>
            <div class="banner lost" id="lost" hidden></div>
            <div class="banner reload-error" id="reload-error" hidden></div>
            <div class="banner warming" id="warming" hidden></div>
            <form class="banner token" id="token-form" hidden>
            <label>This daemon asks for its admin token: <input type="password" id="token-input" autocomplete="off"></label>
            <button type="submit">Use for this session</button>
            </form>
            <main>
            \(body)
            </main>
            </body>
            </html>

            """
    }
}

/// Escaping for text placed in HTML elements and quoted attributes.
enum HTML {
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// An instant as ISO 8601 (what the script shows in the reader's own time zone).
    static func time(_ date: Date) -> String {
        let text = AdminJSON.timestamp(date)
        return #"<time datetime="\#(text)">\#(text)</time>"#
    }
}
