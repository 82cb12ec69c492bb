import BrokerCore
import PropertyBased
import RoutingRules
import Testing

extension GeneratedInputs {
    /// `LinearRegex` (the Pike VM rules use for `matches`) against Swift's own `Regex` on the
    /// supported subset: generated patterns, generated inputs, the same answer to "is there a match
    /// anywhere". Swift's regex is set to the same semantics (Unicode scalars). Word boundaries are
    /// left out: Swift's `\b` and `\B` disagree with every other engine on inputs like `"1"` and
    /// `"cb1"` even with simple word boundaries, so `RegexTests` pins ours by hand.
    @Suite(.timeLimit(.minutes(10))) struct RegexDifferentialTests {
        /// A random pattern of the supported subset, at most `depth` groups deep.
        static func pattern(_ random: inout FastRandom, depth: Int = 2) -> String {
            var out = ""
            for _ in 0..<(1 + random.below(4)) {
                var atom: String
                switch random.below(depth > 0 ? 12 : 9) {
                case 0, 1, 2: atom = ["a", "b", "c", "1", " "][random.below(5)]
                case 3: atom = "."
                case 4: atom = ["[ab]", "[^a]", "[a-c1]", "[^ 1]"][random.below(4)]
                case 5: atom = ["\\d", "\\w", "\\s", "\\D", "\\W", "\\S"][random.below(6)]
                case 6: atom = ["^", "$"][random.below(2)]
                case 7: atom = "\\."
                case 8: atom = "b"
                case 9: atom = "(" + pattern(&random, depth: depth - 1) + ")"
                case 10:
                    atom = "(?:" + pattern(&random, depth: depth - 1) + "|" + pattern(&random, depth: depth - 1) + ")"
                default:
                    atom = "(" + pattern(&random, depth: depth - 1) + "|" + pattern(&random, depth: depth - 1) + ")"
                }
                if atom.hasPrefix("(") {
                    // Groups take at most `?` and `{1,2}`: nested unbounded repeats make Swift's
                    // backtracking engine (the reference) take exponential time.
                    atom += ["", "", "?", "{1,2}"][random.below(4)]
                } else if !["^", "$"].contains(atom) {
                    atom += ["", "", "", "*", "+", "?", "{2}", "{1,2}", "{0,3}", "*?", "+?"][random.below(11)]
                }
                out += atom
            }
            if random.below(6) == 0 { out += "|" + pattern(&random, depth: 0) }
            return out
        }

        static func input(_ random: inout FastRandom) -> String {
            String((0..<random.below(9)).map { _ in Array("abc1 .")[random.below(6)] })
        }

        @Test func linearRegexAgreesWithSwiftRegexOnTheSupportedSubset() async {
            await propertyCheck(count: 400, input: Gen.int(in: 0...Int(Int32.max))) { seed in
                // Lets the async tests running beside this one have a cooperative thread.
                await Task.yield()
                var random = FastRandom(seed: UInt64(seed))
                let source = Self.pattern(&random)
                let mine: LinearRegex
                do {
                    mine = try LinearRegex(source)
                } catch let error as RegexError {
                    // A group of anchors only, repeated: refused by design (it can only match empty).
                    if !error.message.contains("anchor cannot be repeated") {
                        Issue.record("a pattern of the subset is refused: /\(source)/: \(error)")
                    }
                    return
                } catch {
                    Issue.record("\(error)")
                    return
                }
                guard let swift = try? Regex(source) else { return }  // not Swift syntax: nothing to compare
                let reference = swift.matchingSemantics(.unicodeScalar)
                for _ in 0..<25 {
                    let text = Self.input(&random)
                    let expected = text.firstMatch(of: reference) != nil
                    #expect(
                        mine.matches(text) == expected,
                        "/\(source)/ on \(text.debugDescription): LinearRegex \(!expected), Swift \(expected)")
                }
            }
        }
    }
}
