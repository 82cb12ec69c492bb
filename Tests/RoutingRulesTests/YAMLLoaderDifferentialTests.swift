import Foundation
import Testing
import Yams

@testable import RoutingRules

/// The libyaml event loader against Yams, the loader it replaced, on every YAML file in the
/// repository (rules, examples, registries, rule tests, deployment files, the broken-rules
/// corpus): where both read a file they must build the same tree, node for node, with the same
/// scalar types and positions.
@Suite(.timeLimit(.minutes(10))) struct YAMLLoaderDifferentialTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let files: [String] = {
        var found: [String] = []
        for directory in ["rules", "deploy", "Tests/RoutingRulesTests/Corpus"] {
            let root = repository.appendingPathComponent(directory)
            let enumerator = FileManager.default.enumerator(atPath: root.path)
            while let name = enumerator?.nextObject() as? String {
                if name.hasSuffix(".yaml") || name.hasSuffix(".yml") { found.append("\(directory)/\(name)") }
            }
        }
        return found.sorted()
    }()

    @Test func everyKindOfFileIsCompared() {
        #expect(Self.files.count >= 25, "\(Self.files)")
        #expect(
            Self.files.contains { $0.hasPrefix("rules/registries/") }
                && Self.files.contains { $0.hasPrefix("rules/tests/") })
    }

    @Test(arguments: files)
    func theEventLoaderBuildsTheTreeYamsBuilt(_ path: String) throws {
        let bytes = try [UInt8](Data(contentsOf: Self.repository.appendingPathComponent(path)))
        var sink = DiagnosticSink()
        let mine = YAMLLoader.load(bytes, file: path, limits: RuleFileLimits(), into: &sink)
        guard let mine else {
            // Refused by a check of the loader's own (its message is BrokenRulesCorpusTests'
            // business); Yams must not have read a tree the loader cannot.
            #expect(sink.hasErrors)
            if !path.contains("alias-bomb"), let text = String(validating: bytes, as: UTF8.self),
                let theirs = try? Yams.compose(yaml: text)
            {
                #expect(Self.isDuplicateOrLimitCase(sink), "Yams read \(path) (\(theirs)): \(sink.diagnostics)")
            }
            return
        }
        let root = try #require(try Yams.compose(yaml: String(decoding: bytes, as: UTF8.self), Resolver.basic))
        let theirs = Self.convert(root, file: path)
        #expect(Self.difference(mine, theirs, at: "") == nil)
    }

    /// Checks Yams does not make (the old loader added them around it).
    static func isDuplicateOrLimitCase(_ sink: DiagnosticSink) -> Bool {
        sink.diagnostics.contains { d in
            ["duplicate key", "alias", "nesting deeper", "nodes"].contains { d.message.contains($0) }
        }
    }

    /// The old loader's conversion of a Yams node.
    static func convert(_ node: Node, file: String) -> YAMLNode {
        let location = SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
        switch node {
        case .scalar(let scalar):
            let quoted = scalar.style != .plain && scalar.style != .any
            return YAMLNode(kind: .scalar(YAMLScalar(text: scalar.string, quoted: quoted)), location: location)
        case .sequence(let sequence):
            return YAMLNode(kind: .sequence(sequence.map { convert($0, file: file) }), location: location)
        case .mapping(let mapping):
            return YAMLNode(
                kind: .mapping(mapping.map { (convert($0.key, file: file), convert($0.value, file: file)) }),
                location: location)
        case .alias:
            return YAMLNode(kind: .scalar(YAMLScalar(text: "<alias>", quoted: true)), location: location)
        }
    }

    /// Where two trees first differ, or `nil`.
    static func difference(_ a: YAMLNode, _ b: YAMLNode, at path: String) -> String? {
        guard a.location == b.location else { return "\(path): at \(a.location), Yams \(b.location)" }
        switch (a.kind, b.kind) {
        case (.scalar(let x), .scalar(let y)):
            return x == y ? nil : "\(path): \(x), Yams \(y)"
        case (.sequence(let xs), .sequence(let ys)):
            guard xs.count == ys.count else { return "\(path): \(xs.count) items, Yams \(ys.count)" }
            for (i, (x, y)) in zip(xs, ys).enumerated() {
                if let found = difference(x, y, at: "\(path)[\(i)]") { return found }
            }
            return nil
        case (.mapping(let xs), .mapping(let ys)):
            guard xs.count == ys.count else { return "\(path): \(xs.count) keys, Yams \(ys.count)" }
            for (x, y) in zip(xs, ys) {
                let key = x.key.text ?? "?"
                if let found = difference(x.key, y.key, at: "\(path).\(key)(key)") { return found }
                if let found = difference(x.value, y.value, at: "\(path).\(key)") { return found }
            }
            return nil
        default:
            return "\(path): \(a.kindDescription), Yams \(b.kindDescription)"
        }
    }
}
