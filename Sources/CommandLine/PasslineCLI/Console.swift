import Foundation

/// Writes to standard error: progress, warnings and findings, never the command's result.
enum Console {
    /// Prints one JSON object on one line, keys sorted: the machine-readable last line of a command.
    static func printJSONLine(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
        // A line at a time even into a file: the stand-ins' logs are watched while they run.
        fflush(nil)
    }

    /// Reads a pipe to its end with read(2), retrying when a signal interrupts it: Foundation's
    /// `readDataToEndOfFile` traps on EINTR, which a child's exit (SIGCHLD) can cause.
    static func readToEnd(_ handle: FileHandle) -> [UInt8] {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 { data += buffer[0..<count]; continue }
            if count < 0 && errno == EINTR { continue }
            return data
        }
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

/// The templates that ship with Passline, for commands that use one by default.
enum ShippedTemplates {
    /// `PassTemplates/<name>.pass` in the working directory, or else beside the executable (which
    /// lives under the repository's `.build`), so the default works from any directory.
    static func folder(_ name: String) -> URL {
        let relative = "PassTemplates/\(name).pass"
        let here = URL(commandLinePath: relative)
        if FileManager.default.fileExists(atPath: here.path) { return here }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        // Not found: load() will say that this folder does not exist, naming it.
        return here
    }
}
