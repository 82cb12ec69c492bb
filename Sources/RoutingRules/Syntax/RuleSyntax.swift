/// The syntax tree of rule files: what was written, where, before any cross-file checking.

/// A value with the place it was written.
struct Located<Value: Sendable & Hashable>: Sendable, Hashable {
    var value: Value
    var location: SourceLocation
}

/// One rule file.
struct RuleFileSyntax: Sendable {
    var file: String
    var defaults: DefaultsSyntax
    var routes: [RouteSyntax]
}

/// `defaults:` of one file; each key may be set in one file only.
struct DefaultsSyntax: Sendable {
    var output: Located<DestinationSyntax>?
    var onNoRoute: Located<TerminalSyntax>?
    var deadLetter: Located<String>?
}

/// A route: a named entry of `routes:` or an inline `otherwise:` mapping (no name).
struct RouteSyntax: Sendable {
    var name: Located<String>?
    var location: SourceLocation
    var when: ConditionSyntax?
    var action: ActionSyntax?
    var remove: [Located<String>] = []
    var set: [(key: Located<String>, value: ValueSyntax)] = []
    var setIfAbsent: [(key: Located<String>, value: ValueSyntax)] = []
    var output: Located<DestinationSyntax>?
    var otherwise: OtherwiseSyntax?
}

/// Where `otherwise:` leads.
indirect enum OtherwiseSyntax: Sendable {
    case route(Located<String>)
    case inline(RouteSyntax)
}

/// The one thing a route does.
enum ActionSyntax: Sendable {
    case deliver(SourceLocation)
    case select(SelectSyntax)
    case errorToServer(TemplateSyntax)
    case deadLetter(TemplateSyntax)
    case drop(TemplateSyntax)
    case statusUpdate(SourceLocation)

    var keyword: String {
        switch self {
        case .deliver: "deliver"
        case .select: "select"
        case .errorToServer: "error_to_server"
        case .deadLetter: "dead_letter"
        case .drop: "drop"
        case .statusUpdate: "status_update"
        }
    }
}

/// A terminal action, as used by `otherwise:` and `defaults.on_no_route`.
enum TerminalSyntax: Sendable, Hashable {
    case errorToServer(TemplateSyntax)
    case deadLetter(TemplateSyntax)
    case drop(TemplateSyntax)
}

/// `select:`.
struct SelectSyntax: Sendable {
    var location: SourceLocation
    var agents: ConditionSyntax?
    var exclude: [Located<ExcludedAgent>] = []
    var strategy: Located<StrategySyntax>
    var count: Located<SelectionCount>
    var assignTo: Located<String>
}

enum ExcludedAgent: String, Sendable, Hashable, CaseIterable {
    case sender
    case receiver
}

enum StrategySyntax: Sendable, Hashable {
    case random
    case roundRobin
    case first
    case least(Subject)
    case most(Subject)
    case hash(Subject)
}

/// How many agents a selection delivers to.
public enum SelectionCount: Sendable, Hashable {
    case exactly(Int)
    case all
}

/// A destination as written; names may be templates.
enum DestinationSyntax: Sendable, Hashable {
    case queue(TemplateSyntax)
    case exchange(TemplateSyntax, routingKey: TemplateSyntax)
}

/// A condition: several keys in one mapping mean all of them.
enum ConditionSyntax: Sendable, Hashable {
    case all([ConditionSyntax], SourceLocation)
    case any([ConditionSyntax], SourceLocation)
    indirect case not(ConditionSyntax, SourceLocation)
    case test(Located<Subject>, [TestSyntax])

    var location: SourceLocation {
        switch self {
        case .all(_, let l), .any(_, let l), .not(_, let l): l
        case .test(let subject, _): subject.location
        }
    }
}

/// One operator applied to a subject.
struct TestSyntax: Sendable, Hashable {
    var op: Operator
    var value: LiteralSyntax
    var location: SourceLocation
}

/// The operators of the rule language.
enum Operator: String, Sendable, Hashable, CaseIterable {
    case eq, ne, `in`
    case notIn = "not_in"
    case exists, prefix, suffix, contains, matches, lt, le, gt, ge, within
    case sameAs = "same_as"
}

/// An operand: a scalar or a list of scalars, or (for `same_as`) another subject, with its
/// location.
enum LiteralSyntax: Sendable, Hashable {
    case scalar(YAMLScalar, SourceLocation)
    case list([LiteralSyntax], SourceLocation)
    case subject(Subject, SourceLocation)
    case other(String, SourceLocation)  // a mapping where a value was expected

    var location: SourceLocation {
        switch self {
        case .scalar(_, let l), .list(_, let l), .subject(_, let l), .other(_, let l): l
        }
    }
}

/// A value for `set:`: a template string, or a non-string JSON scalar.
enum ValueSyntax: Sendable {
    case template(TemplateSyntax)
    case json(JSONLiteral, SourceLocation)
}

/// A JSON scalar written in YAML.
enum JSONLiteral: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(String)
}

/// A string with `{subject}` placeholders; `{{` and `}}` stand for literal braces.
struct TemplateSyntax: Sendable, Hashable {
    enum Part: Sendable, Hashable {
        case literal(String)
        case subject(Subject)
    }

    var parts: [Part]
    var text: String
    var location: SourceLocation

    var isConstant: Bool { parts.allSatisfy { if case .literal = $0 { true } else { false } } }
}

/// What a condition or template reads.
public enum Subject: Sendable, Hashable, CustomStringConvertible {
    /// `message.<path>`: a key of the message, nested with dots.
    case message([String])
    /// `sender.<field>`: the agent named by `sender_id`.
    case sender(AgentField)
    /// `receiver.<field>`: the agent named by `receiver_id`.
    case receiver(AgentField)
    /// `agent.<field>` (or a bare field) inside a selection: the candidate.
    case agent(AgentField)
    /// `registry.<field>`: facts about the registry as a whole.
    case registry(RegistryField)
    /// `route.name`: the name of the route being applied.
    case routeName

    public var description: String {
        switch self {
        case .message(let path): "message." + path.joined(separator: ".")
        case .sender(let field): "sender.\(field)"
        case .receiver(let field): "receiver.\(field)"
        case .agent(let field): "agent.\(field)"
        case .registry(let field): "registry.\(field.rawValue)"
        case .routeName: "route.name"
        }
    }

    /// The type of value the subject yields, for checking operators.
    var valueType: SubjectType {
        switch self {
        case .message, .routeName: return .json
        case .sender(let f), .receiver(let f), .agent(let f): return f.valueType
        case .registry(let f): return f.valueType
        }
    }
}

enum SubjectType: Sendable {
    case json, bool, string, number, timestamp, metric
}

/// A field of an agent record.
public enum AgentField: Sendable, Hashable, CustomStringConvertible {
    case known, online, agentID, agentName, lastSeen
    case metric(String)

    static let names = ["known", "online", "agent_id", "agent_name", "last_seen", "metrics.<key>"]

    public var description: String {
        switch self {
        case .known: "known"
        case .online: "online"
        case .agentID: "agent_id"
        case .agentName: "agent_name"
        case .lastSeen: "last_seen"
        case .metric(let key): "metrics.\(key)"
        }
    }

    var valueType: SubjectType {
        switch self {
        case .known, .online: .bool
        case .agentID, .agentName: .string
        case .lastSeen: .timestamp
        case .metric: .metric
        }
    }
}

/// A fact about the registry as a whole.
public enum RegistryField: String, Sendable, Hashable, CaseIterable {
    case onlineCount = "online_count"
    case agentCount = "agent_count"
    case synced
    /// The status feed is down, or never delivered a full list.
    case stale
    /// Seconds since the status feed was last healthy (0 while it is).
    case staleness
    /// The agent server's view has not settled since it (re)started: its list came back empty
    /// or short and its agents are reconnecting (``BrokerCore/RegistryWarmup``).
    case warming

    var valueType: SubjectType { self == .synced || self == .stale || self == .warming ? .bool : .number }
}
