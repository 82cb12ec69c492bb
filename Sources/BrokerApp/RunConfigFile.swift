import ArgumentParser
import BrokerCLISupport
import Foundation
import RoutingRules

/// A problem with a `broker run --config` file, as `file:line:column: error: …` lines.
public struct ConfigFileError: Error {
    public var message: String
    init(_ message: String) { self.message = message }
}

/// `broker run --config FILE` (or `--config=FILE`): a YAML mapping of `run` option names to
/// values, applied before the command line (so flags given on the command line win). Each key is
/// checked on its own, so an error names the file and the key.
public enum ConfigFile {
    /// `arguments` with the settings of a `run --config FILE` put in the place of that option.
    public static func expand(_ arguments: [String]) throws -> [String] {
        guard arguments.first == "run" else { return arguments }
        var rest = arguments
        let path: String
        if let index = rest.firstIndex(of: "--config"), index + 1 < rest.count {
            path = rest[index + 1]
            rest.removeSubrange(index...(index + 1))
        } else if let index = rest.firstIndex(where: { $0.hasPrefix("--config=") }) {
            path = String(rest[index].dropFirst("--config=".count))
            rest.remove(at: index)
        } else {
            return arguments
        }
        guard let data = readFile(path) else { throw ConfigFileError("error: \(path): cannot read the config file") }
        let settings: [YAMLData.Setting]
        do {
            settings = try YAMLData.settings([UInt8](data), name: path)
        } catch {
            throw ConfigFileError(error.description)
        }
        var fromFile: [String] = []
        for setting in settings {
            guard !["config", "help"].contains(setting.key) else { continue }
            let option: [String]
            switch setting.value {
            // A flag: `watch-rules: false` is --no-watch-rules.
            case .bool(let on): option = [on ? "--" + setting.key : "--no-" + setting.key]
            case .object, .array:
                throw ConfigFileError(
                    "\(setting.valueLocation): error: '\(setting.key)' takes a single value, not a list or mapping")
            default: option = ["--" + setting.key, setting.value.templateText]
            }
            try check(option, setting)
            fromFile += option
        }
        return [rest[0]] + fromFile + rest.dropFirst()
    }

    /// Parses one setting alone, so that its error names the file, the place and the key.
    private static func check(_ option: [String], _ setting: YAMLData.Setting) throws {
        do {
            _ = try RunOptions.parse(option)
        } catch {
            let names = optionNames()
            guard names.contains(setting.key) else {
                throw ConfigFileError(
                    "\(setting.location): error: unknown key '\(setting.key)' (the keys are broker run's long option names)\(Suggestion.didYouMean(setting.key, in: names))"
                )
            }
            throw ConfigFileError(
                "\(setting.valueLocation): error: '\(setting.key)': \(RunOptions.message(for: error))")
        }
    }

    /// `broker run`'s long option names, from its help.
    private static func optionNames() -> [String] {
        let help = RunOptions.helpMessage(columns: 10_000)
        var names: Set<String> = []
        for word in help.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," || $0 == "|" })
        where word.hasPrefix("--") {
            var name = word.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            if name.hasPrefix("[no-]") { name = name.dropFirst(5) }
            if !name.isEmpty { names.insert(String(name)) }
        }
        return names.sorted()
    }
}
