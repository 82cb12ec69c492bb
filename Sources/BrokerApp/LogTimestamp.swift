import Foundation

/// The time of a log line, as both log formats write it: UTC with milliseconds,
/// `2026-12-07T02:25:00.123Z` (RFC 3339), from one clock read and no formatter object.
enum LogTimestamp {
    /// Now.
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return format(seconds: spec.tv_sec, milliseconds: Int(spec.tv_nsec / 1_000_000))
    }

    /// `seconds` since 1970 and `milliseconds` past them.
    static func format(seconds: Int, milliseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var text = ""
        text.reserveCapacity(24)
        func append(_ value: Int32, width: Int) {
            let digits = String(value)
            text += String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        append(parts.tm_year + 1900, width: 4)
        text += "-"
        append(parts.tm_mon + 1, width: 2)
        text += "-"
        append(parts.tm_mday, width: 2)
        text += "T"
        append(parts.tm_hour, width: 2)
        text += ":"
        append(parts.tm_min, width: 2)
        text += ":"
        append(parts.tm_sec, width: 2)
        text += "."
        append(Int32(milliseconds), width: 3)
        text += "Z"
        return text
    }
}
