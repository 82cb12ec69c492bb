/// Renders conditions as short, location-free text: for explanations, and to compare two
/// routes' `when` for shadowing.
enum ConditionText {
    static func of(_ condition: ConditionSyntax) -> String {
        switch condition {
        case .all(let items, _): return items.map(of).joined(separator: ", ")
        case .any(let items, _): return "any(" + items.map(of).joined(separator: " | ") + ")"
        case .not(let inner, _): return "not(" + of(inner) + ")"
        case .test(let subject, let tests):
            return tests.map { of(subject.value, $0.op, $0.value) }.joined(separator: ", ")
        }
    }

    static func of(_ subject: Subject, _ op: Operator, _ operand: LiteralSyntax) -> String {
        let value = literal(operand)
        return op == .eq ? "\(subject) == \(value)" : "\(subject) \(op.rawValue) \(value)"
    }

    static func literal(_ literal: LiteralSyntax) -> String {
        switch literal {
        case .scalar(let s, _): s.resolved == .string ? s.text.debugDescription : s.text
        case .list(let items, _): "[" + items.map(Self.literal).joined(separator: ", ") + "]"
        case .subject(let subject, _): subject.description
        case .other(let kind, _): kind
        }
    }
}
