import BrokerCore
import Foundation

/// The text of one rule file and the name it is reported under.
public struct RuleSource: Sendable, Hashable {
    public var name: String
    public var bytes: [UInt8]
    /// The file's size on disk, when only its first bytes were read (it is over the limit).
    public var size: Int?

    public init(name: String, bytes: [UInt8], size: Int? = nil) {
        self.name = name
        self.bytes = bytes
        self.size = size
    }

    public init(name: String, text: String) { self.init(name: name, bytes: Array(text.utf8)) }
}

/// A problem reading rule files from disk (as opposed to a problem in their contents).
public struct RuleSourceError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

/// How long each stage of loading took (`validate-rules --timings`).
public struct LoadTimings: Sendable, Hashable {
    /// libyaml's events to the located YAML tree, with the loader's checks.
    public var yamlTree: Duration = .zero
    /// The YAML tree to the rule syntax tree, with its checks.
    public var syntax: Duration = .zero
    /// Merging files, cross-file and type checks, lowering and indexing: the sum of `passes`.
    public var compile: Duration { passes.reduce(.zero) { $0 + $1.duration } }
    /// The compiler's passes in the order they ran, each with its time.
    public var passes: [PassTiming] = []
    /// Everything else: hashing the sources, sorting diagnostics, freeing the syntax trees.
    public var other: Duration = .zero
    /// The bytes loaded.
    public var bytes = 0

    public init() {}

    /// The whole load, as a caller waits for it.
    public var total: Duration { yamlTree + syntax + compile + other }
}

/// The result of loading a rule set: the rule set when there is no error, and every
/// diagnostic (errors and warnings) in file order.
public struct RuleSetLoadResult: Sendable {
    public var ruleSet: RuleSet?
    public var diagnostics: [Diagnostic]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }

    /// Whether the rules may go live: no error, and with `strict` no warning either. The one
    /// definition `validate-rules`, start-up and reloads share.
    public func isAcceptable(strict: Bool) -> Bool {
        ruleSet != nil && !diagnostics.contains { $0.severity == .error || (strict && $0.severity == .warning) }
    }
}

/// Loads rule files: YAML → syntax tree with locations → checks → compiled ``RuleSet``.
///
/// Loading never runs anything from the files, never crashes on bad input, and reports every
/// problem it can find, not only the first.
public struct RuleSetLoader: Sendable {
    public var limits: RuleFileLimits
    /// Dedicated predicate leaves for common tests; off only to test them against the general
    /// ones.
    var specialisesPredicates = true

    public init(limits: RuleFileLimits = RuleFileLimits()) { self.limits = limits }

    /// The rule files at `paths`: files as given, and the `*.yaml`/`*.yml` files of directories
    /// (not recursive, hidden files skipped) in name order.
    public static func sourceFiles(_ paths: [String]) throws(RuleSourceError) -> [String] {
        var result: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw RuleSourceError(path: path, message: "no such file or directory")
            }
            if let problem = RegularFile.problem(at: path) { throw RuleSourceError(path: path, message: problem) }
            guard isDirectory.boolValue else {
                result.append(path)
                continue
            }
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path)
            } catch {
                throw RuleSourceError(path: path, message: "cannot list directory: \(error.localizedDescription)")
            }
            let ruleFiles = names.filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
                .sorted()
                .map { (path.hasSuffix("/") ? path : path + "/") + $0 }
                .filter {
                    var d: ObjCBool = false;
                    return FileManager.default.fileExists(atPath: $0, isDirectory: &d) && !d.boolValue
                }
            guard !ruleFiles.isEmpty else {
                throw RuleSourceError(path: path, message: "directory contains no rule files (*.yaml, *.yml)")
            }
            for file in ruleFiles {
                if let problem = RegularFile.problem(at: file) { throw RuleSourceError(path: file, message: problem) }
            }
            result.append(contentsOf: ruleFiles)
        }
        return result
    }

    /// Reads the files at `paths` (see ``sourceFiles(_:)``).
    public static func readSources(_ paths: [String], limits: RuleFileLimits = RuleFileLimits()) throws(RuleSourceError)
        -> [RuleSource]
    {
        var sources: [RuleSource] = []
        for file in try sourceFiles(paths) {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                throw RuleSourceError(path: file, message: "cannot open file")
            }
            defer { try? handle.close() }
            // Read one byte past the limit: enough to know the file is oversized without loading
            // it all; its true size comes from the file system.
            let data = (try? handle.read(upToCount: limits.maximumFileSize + 1)) ?? Data()
            let size = data.count > limits.maximumFileSize ? (try? handle.seekToEnd()).map { Int($0) } : nil
            sources.append(RuleSource(name: file, bytes: [UInt8](data), size: size))
        }
        return sources
    }

    /// Loads the rule files at `paths`.
    public func load(paths: [String]) throws(RuleSourceError) -> RuleSetLoadResult {
        load(try Self.readSources(paths, limits: limits))
    }

    /// Loads rule files given in memory.
    public func load(_ sources: [RuleSource]) -> RuleSetLoadResult {
        var timings = LoadTimings()
        return load(sources, timings: &timings)
    }

    /// Loads rule files given in memory, adding the time each stage took to `timings`.
    public func load(_ sources: [RuleSource], timings: inout LoadTimings) -> RuleSetLoadResult {
        let clock = ContinuousClock()
        let started = clock.now
        let staged = timings.total
        // The syntax trees are freed when `stages` returns, so that `other` includes freeing them.
        let result = stages(sources, timings: &timings)
        timings.other += (clock.now - started) - (timings.total - staged)
        return result
    }

    private func stages(_ sources: [RuleSource], timings: inout LoadTimings) -> RuleSetLoadResult {
        let clock = ContinuousClock()
        var diagnostics: [Diagnostic] = []
        var files: [RuleFileSyntax] = []
        for source in sources {
            var sink = DiagnosticSink()
            let started = clock.now
            defer { timings.bytes += source.bytes.count }
            guard
                let root = YAMLLoader.load(
                    source.bytes, file: source.name, limits: limits, size: source.size, into: &sink)
            else {
                timings.yamlTree += clock.now - started
                diagnostics.append(contentsOf: sink.diagnostics)
                continue
            }
            let parsing = clock.now
            timings.yamlTree += parsing - started
            var parser = RuleParser()
            files.append(parser.parseFile(root, file: source.name))
            diagnostics.append(contentsOf: parser.sink.diagnostics)
            timings.syntax += clock.now - parsing
        }
        var compiler = RuleSetCompiler()
        compiler.maximumPatternSteps = limits.maximumPatternSteps
        compiler.specialises = specialisesPredicates
        compiler.parsingFoundErrors = diagnostics.contains { $0.severity == .error }
        let ruleSet = compiler.compile(files, hash: Self.hash(sources))
        diagnostics.append(contentsOf: compiler.sink.diagnostics)
        timings.passes.append(contentsOf: compiler.timings)
        diagnostics.sort { ($0.location, $0.severity == .error ? 0 : 1) < ($1.location, $1.severity == .error ? 0 : 1) }
        let failed = diagnostics.contains { $0.severity == .error }
        return RuleSetLoadResult(ruleSet: failed ? nil : ruleSet, diagnostics: diagnostics)
    }

    /// A 128-bit identifier of the sources: two FNV-1a/SplitMix64 lanes over names and bytes.
    static func hash(_ sources: [RuleSource]) -> String {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x8422_2325_cbf2_9ce4
        func feed(_ byte: UInt8) {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 &+ 0x9E37
        }
        for source in sources {
            for byte in source.name.utf8 { feed(byte) }
            feed(0)
            for byte in source.bytes { feed(byte) }
            feed(0xFF)
        }
        let hex = { (v: UInt64) in String(StableHash.mix(v), radix: 16).leftPadded(to: 16) }
        return hex(a) + hex(b)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
