import Foundation

/// Writes to standard error: progress, warnings and findings, never the command's result.
enum Console {
    /// Prints one JSON object on one line, keys sorted: the machine-readable last line of a command.
    static func printJSONLine(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

extension URL {
    /// A path from the command line, relative to the working directory.
    init(commandLinePath path: String) {
        self.init(fileURLWithPath: (path as NSString).expandingTildeInPath)
    }
}
