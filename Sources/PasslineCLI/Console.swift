import Foundation

/// Writes to standard error: progress, warnings and findings, never the command's result.
enum Console {
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
