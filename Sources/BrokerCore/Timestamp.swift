import Foundation

/// Parses the timestamps the agent server sends in `last_seen` and that messages carry.
///
/// Accepted forms: ISO-8601 date-times (`2024-05-01T12:30:00`, with optional fractional
/// seconds, `Z` or a `±HH:MM` offset, and a space instead of `T`), and a bare time of day
/// `HH:MM:SS`, which means the most recent such time at or before the reference instant (UTC).
/// A date-time without an offset is taken as UTC.
public enum Timestamp {
    /// The instant `text` denotes, or `nil` when it is in neither form.
    public static func parse(_ text: String, relativeTo now: Date = Date()) -> Date? {
        var scanner = DigitScanner(Array(text.utf8))
        if let time = scanner.timeOfDay(), scanner.atEnd {
            let day = (now.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400
            var instant = day + time
            // A time of day later than now (beyond clock skew) was yesterday.
            if instant > now.timeIntervalSince1970 + 60 { instant -= 86_400 }
            return Date(timeIntervalSince1970: instant)
        }
        return dateTime(text)
    }

    /// The instant an ISO-8601 date-time denotes, or `nil` for anything else (a bare time of day
    /// included: it means a different instant depending on the clock).
    public static func dateTime(_ text: String) -> Date? {
        var scanner = DigitScanner(Array(text.utf8))
        guard let seconds = scanner.dateTime(), scanner.atEnd else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}

private struct DigitScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position == bytes.count }

    mutating func number(digits: Int) -> Int? {
        guard position + digits <= bytes.count else { return nil }
        var value = 0
        for i in 0..<digits {
            let byte = bytes[position + i]
            guard (0x30...0x39).contains(byte) else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        position += digits
        return value
    }

    mutating func expect(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// `HH:MM:SS[.fff]` as seconds since midnight.
    mutating func timeOfDay() -> Double? {
        guard let hour = number(digits: 2), hour < 24, expect(UInt8(ascii: ":")),
            let minute = number(digits: 2), minute < 60, expect(UInt8(ascii: ":")),
            let second = number(digits: 2), second < 61
        else { return nil }
        var fraction = 0.0
        if expect(UInt8(ascii: ".")) || expect(UInt8(ascii: ",")) {
            var scale = 0.1
            let start = position
            while position < bytes.count, (0x30...0x39).contains(bytes[position]) {
                fraction += Double(bytes[position] - 0x30) * scale
                scale /= 10
                position += 1
            }
            guard position > start else { return nil }
        }
        return Double(hour * 3600 + minute * 60 + second) + fraction
    }

    /// `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|±HH[:MM]]` as seconds since 1970.
    mutating func dateTime() -> Double? {
        guard let year = number(digits: 4), expect(UInt8(ascii: "-")),
            let month = number(digits: 2), (1...12).contains(month), expect(UInt8(ascii: "-")),
            let day = number(digits: 2), (1...31).contains(day),
            expect(UInt8(ascii: "T")) || expect(UInt8(ascii: " ")) || expect(UInt8(ascii: "t")),
            let time = timeOfDay()
        else { return nil }
        var offset = 0
        if expect(UInt8(ascii: "Z")) || expect(UInt8(ascii: "z")) {
            offset = 0
        } else if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
            let sign = bytes[position] == UInt8(ascii: "-") ? -1 : 1
            position += 1
            guard let hours = number(digits: 2), hours < 24 else { return nil }
            var minutes = 0
            if expect(UInt8(ascii: ":")) {
                guard let m = number(digits: 2), m < 60 else { return nil }
                minutes = m
            } else if let m = number(digits: 2) {
                guard m < 60 else { return nil }
                minutes = m
            }
            offset = sign * (hours * 3600 + minutes * 60)
        }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        return Double(days * 86_400 - offset) + time
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
