/// The pages whose rows the script fills from the JSON endpoints (the registry can hold 100,000
/// agents; decisions need the token when one is set): their controls and empty tables.
enum ConsoleShells {
    static let agents = """
        <h1>Agents <span class="sync" id="sync">…</span></h1>
        <form class="filters" id="agent-filters">
        <label>Filter <input type="search" id="agent-query" placeholder="id or name"></label>
        <label>State <select id="agent-online">
        <option value="">all</option><option value="true">online</option><option value="false">offline</option>
        </select></label>
        <label>Per page <select id="agent-limit"><option>50</option><option selected>100</option><option>500</option>\
        </select></label>
        <span class="paging"><button type="button" id="agent-previous">← previous</button>
        <span id="agent-range">…</span>
        <button type="button" id="agent-next">next →</button></span>
        </form>
        <table class="agents" id="agents">
        <thead><tr>
        <th data-sort="agent_id" aria-sort="ascending">agent</th><th data-sort="agent_name">name</th>
        <th data-sort="is_online">state</th><th data-sort="last_seen">last seen</th>
        <th>metrics</th><th data-sort="decisions">decisions received</th>
        </tr></thead>
        <tbody id="agent-rows"></tbody>
        </table>
        """

    static func decisions(tracesShown: Bool) -> String {
        let note =
            tracesShown
            ? "Traces quote message fields; bodies are folded until opened."
            : "Traces and bodies are hidden: this daemon runs with <code>--no-decision-traces</code>."
        return """
            <h1>Recent decisions</h1>
            <p class="note">\(note)</p>
            <form class="filters" id="decision-filters">
            <label>Route <select id="decision-route"><option value="">any</option></select></label>
            <label>Outcome <select id="decision-outcome"><option value="">any</option></select></label>
            <label><input type="checkbox" id="decision-follow" checked> follow new decisions</label>
            </form>
            <ol class="decisions" id="decisions"></ol>
            """
    }

    static let tryIt = """
        <h1>Try a message</h1>
        <p class="note">What the rules in force would do with a message, against the live registry. Nothing is \
        published, settled or changed.</p>
        <form class="try" id="try-form">
        <label class="message">Message (JSON)
        <textarea id="try-message" rows="12" spellcheck="false">\
        {"message_type": "TEXT", "sender_id": "agent_1", "text_payload": "hello", "routing_status": "pending"}\
        </textarea></label>
        <label class="rules">Rules to try instead (YAML, optional: empty means the rules in force)
        <textarea id="try-rules" rows="12" spellcheck="false" placeholder="version: 1&#10;routes: …"></textarea></label>
        <button type="submit" id="try-run">Try</button>
        </form>
        <section class="try-result" id="try-result" hidden></section>
        """
}
