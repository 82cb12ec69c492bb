import Foundation
import RoutingRules
import Testing

/// Every class of broken rule file, with the exact diagnostics a user sees.
@Suite(.timeLimit(.minutes(10))) struct BrokenRulesCorpusTests {
    static let files: [String] = {
        let directory = corpus.appendingPathComponent("broken")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    @Test func corpusIsPresent() {
        #expect(Self.files.count >= 14)
    }

    @Test(arguments: files)
    func diagnosticsMatchExpected(name: String) throws {
        let directory = corpus.appendingPathComponent("broken")
        let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(name)))
        let expected = try String(
            contentsOf: directory.appendingPathComponent(name.replacingOccurrences(of: ".yaml", with: ".expected")),
            encoding: .utf8)
        let result = RuleSetLoader().load([RuleSource(name: name, bytes: bytes)])
        #expect(result.diagnostics.map(\.description).joined(separator: "\n") + "\n" == expected)
        #expect(!result.diagnostics.isEmpty)
    }

    @Test func anOversizedFileOnDiskIsReportedWithItsTrueSize() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: url) }
        let text = "version: 1\n# " + String(repeating: "x", count: 1_426_000) + "\nroutes: []\n"
        try text.write(to: url, atomically: true, encoding: .utf8)
        var limits = RuleFileLimits()
        limits.maximumFileSize = 1 << 20
        let result = try RuleSetLoader(limits: limits).load(paths: [url.path])
        #expect(
            result.diagnostics.map(\.description) == [
                "\(url.path):1:1: error: file is \(text.utf8.count) bytes, over the limit of 1048576 bytes (BROKER_MAX_RULE_FILE_SIZE raises it)"
            ])
    }

    @Test func tenThousandGeneratedRoutesInBlockStyleLoadUnderTheDefaultLimit() async throws {
        var text = "version: 1\nroutes:\n"
        for i in 0..<10_000 {
            text += """
                  - name: route-\(i)
                    when:
                      message.message_type: T\(i)
                      message.sender_id:
                        in: [s\(i), t\(i)]
                    set: { routing_status: routed, route_number: "\(i)" }
                    deliver: as_is

                """
        }
        #expect(text.utf8.count > 1_400_000, "as large as the file the issue could not load")
        let source = RuleSource(name: "generated.yaml", text: text)
        let result = await onThreadOfItsOwn { RuleSetLoader().load([source]) }
        #expect(result.errors.isEmpty, "\(result.errors.prefix(3))")
        #expect(result.ruleSet?.routeNames.count == 10_000)
    }

    @Test func sizesTakeUnits() {
        #expect(RuleFileLimits.parseSize("64M") == 64 << 20)
        #expect(RuleFileLimits.parseSize("512k") == 512 << 10)
        #expect(RuleFileLimits.parseSize("1048576") == 1 << 20)
        #expect(RuleFileLimits.parseSize("lots") == nil && RuleFileLimits.parseSize("-1") == nil)
    }

    @Test func aliasBombIsRejectedQuickly() throws {
        let bytes = try [UInt8](Data(contentsOf: corpus.appendingPathComponent("broken/alias-bomb.yaml")))
        #expect(bytes.count < 500)
        let result = RuleSetLoader().load([RuleSource(name: "bomb.yaml", bytes: bytes)])
        #expect(result.ruleSet == nil)
        #expect(result.errors.first?.message.contains("alias bomb") == true)
    }

    @Test func aliasUsedAsKeyIsRefused() {
        let text = "version: 1\nx: &k key\nroutes:\n  - name: a\n    deliver: as_is\n    *k : 1\n"
        #expect(diagnostics(text) == ["test.yaml:6:5: error: an alias cannot be used as a mapping key in a rule file"])
    }

    @Test func everyErrorIsReportedNotOnlyTheFirst() throws {
        let text = """
            version: 1
            routes:
              - name: one
                when: { message.x: { lt: abc } }
                deliver: as_is
              - name: two
                when: { mesage.x: 1 }
                deliver: as_is
              - name: three
                select: { strategy: { least: metrics.load }, count: 0 }
            """
        let found = diagnostics(text).filter { $0.contains(": error: ") }
        try #require(found.count == 3)
        #expect(found[0].hasPrefix("test.yaml:4:30: error: 'lt' compares numbers"))
        #expect(found[1].hasPrefix("test.yaml:7:13: error: unknown subject 'mesage.x'"))
        #expect(found[1].hasSuffix("did you mean 'message'?"))
        #expect(found[2] == "test.yaml:10:57: error: 'count' must be a whole number of at least 1, or 'all'")
    }

    @Test func directoryWithoutRuleFilesIsAnError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("empty-rules-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: RuleSourceError.self) { try RuleSetLoader().load(paths: [directory.path]) }
    }

    @Test func defaultsSetTwiceAcrossFilesIsAnError() {
        let a = RuleSource(name: "a.yaml", text: "version: 1\ndefaults: { dead_letter: q1 }\nroutes: []\n")
        let b = RuleSource(name: "b.yaml", text: "version: 1\ndefaults: { dead_letter: q2 }\nroutes: []\n")
        let result = RuleSetLoader().load([a, b])
        #expect(
            result.diagnostics.map(\.description) == [
                "b.yaml:2:26: error: 'defaults.dead_letter' is already set at a.yaml:2:26"
            ])
    }
}
