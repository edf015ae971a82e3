import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// One JSON object per line on standard error: `time` (RFC 3339, UTC, milliseconds), `level`,
/// `label`, `message`, then every metadata key at the top level (`request.id`, `tenant.id`,
/// `route`, `status`, `duration_ms`, …).
public struct JSONLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        var line = Self.line(time: Date(), level: level, label: label, message: message.description,
                             metadata: metadata.merging(explicit ?? [:]) { $1 })
        line.append(UInt8(ascii: "\n"))
        // One write(2) a line: a pipe takes a line up to PIPE_BUF whole, so lines never interleave.
        line.withUnsafeBufferPointer { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }

    /// The line's bytes, without its newline.
    public static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
        var object: [(String, Any)] = [("time", timestamp(time)), ("level", level.rawValue), ("label", label), ("message", message)]
        for key in metadata.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            object.append((key, plain(metadata[key]!)))
        }
        var out = "{"
        for (index, (key, value)) in object.enumerated() {
            if index > 0 { out += "," }
            out += quote(key) + ":" + encode(value)
        }
        return Array((out + "}").utf8)
    }

    static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible):
            // Numbers stay numbers, so a shipper can sum durations and compare statuses.
            if let number = convertible as? Int { return number }
            if let number = convertible as? Double, number.isFinite { return number }
            return convertible.description
        case .array(let items): return items.map(plain)
        case .dictionary(let entries): return entries.mapValues(plain)
        }
    }

    static func encode(_ value: Any) -> String {
        switch value {
        case let text as String: return quote(text)
        case let number as Int: return String(number)
        case let number as Double: return String(number)
        case let items as [Any]: return "[" + items.map(encode).joined(separator: ",") + "]"
        case let entries as [String: Any]: return "{" + entries.keys.sorted().map { quote($0) + ":" + encode(entries[$0]!) }.joined(separator: ",") + "}"
        default: return quote(String(describing: value))
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
