import ApplePass
import Foundation
import PasslineCrypto

/// Fixtures shared by the test targets. Not part of the product.
public enum TestSupport {
    /// The repository's top folder.
    public static let repositoryRoot: URL = {
        // The folder above this file that holds Package.swift, wherever the tiers put this file.
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path), url.pathComponents.count > 1 {
            url.deleteLastPathComponent()
        }
        return url
    }()

    public static func template(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("PassTemplates/\(name).pass")
    }

    /// One development identity for the whole run: RSA key generation is the slow part.
    public static let identity: DevelopmentIdentity = try! DevelopmentIdentity.generate(
        passTypeIdentifier: "pass.dev.passline.tests", teamIdentifier: "TESTTEAM01"
    )

    /// A second, unrelated chain, for "wrong intermediate" and "wrong root" cases.
    public static let otherIdentity: DevelopmentIdentity = try! DevelopmentIdentity.generate(
        passTypeIdentifier: "pass.dev.passline.other", teamIdentifier: "OTHERTEAM1"
    )

    /// A fresh, empty folder under the system's temporary folder.
    public static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("passline-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The files of a template folder, by relative path, to alter in tests.
    public static func templateFiles(_ name: String) -> [String: [UInt8]] {
        let base = template(name)
        var files: [String: [UInt8]] = [:]
        let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)!
        for case let url as URL in walker where !url.hasDirectoryPath {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            if isDirectory.boolValue { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(base.standardizedFileURL.path.count + 1))
            files[relative] = [UInt8](FileManager.default.contents(atPath: url.path)!)
        }
        return files
    }

    /// What a finished process printed and how it ended.
    public struct ProcessResult: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// Runs a program to completion.
    /// - Parameters:
    ///   - executable: a path, or a name looked up in PATH.
    ///   - arguments: its arguments.
    ///   - environment: extra variables.
    ///   - directory: the working directory.
    ///
    /// The wait happens on a thread of its own: blocked there, it cannot hold up one of the few
    /// threads of the cooperative pool (two on a 2-core machine), on which every other test of
    /// the process runs its tasks.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil) async throws -> ProcessResult {
        try await offPool { try runBlocking(executable, arguments, environment: environment, in: directory) }
    }

    /// Waits for a process to end, on a thread of its own (see `run`).
    public static func waitForExit(_ process: Process) async {
        await offPool { process.waitUntilExit() }
    }

    /// Runs blocking work on a thread outside the cooperative pool and awaits its result.
    public static func offPool<R: Sendable>(_ work: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
        }
    }

    public static func offPool<R: Sendable>(_ work: @escaping @Sendable () -> R) async -> R {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: work()) }
        }
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String], in directory: URL?) throws -> ProcessResult {
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes before waiting, so a chatty child cannot fill one and block.
        let group = DispatchGroup()
        nonisolated(unsafe) var stdoutData = Data(), stderrData = Data()
        group.enter()
        DispatchQueue.global().async { stdoutData = readToEnd(out.fileHandleForReading); group.leave() }
        group.enter()
        DispatchQueue.global().async { stderrData = readToEnd(err.fileHandleForReading); group.leave() }
        group.wait()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self), stderr: String(decoding: stderrData, as: UTF8.self))
    }

    /// Reads a pipe to its end with read(2), retrying when a signal interrupts it: Foundation's
    /// `readDataToEndOfFile` traps on EINTR, which the SIGCHLDs of parallel tests' children cause.
    static func readToEnd(_ handle: FileHandle) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 { data.append(contentsOf: buffer[0..<count]); continue }
            if count < 0 && errno == EINTR { continue }
            return data
        }
    }

    /// The `passline` executable built next to the tests (or `PASSLINE_BIN`).
    public static var passlineExecutable: String {
        if let path = ProcessInfo.processInfo.environment["PASSLINE_BIN"] { return path }
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        var directory = runner.deletingLastPathComponent()
        // On Linux the runner is `<products>/PasslinePackageTests.xctest`; on macOS it sits inside a bundle.
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("passline").path), directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("passline").path
    }

    /// Writes bytes to a file, creating folders as needed.
    public static func write(_ bytes: [UInt8], to url: URL) {
        try! FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try! Data(bytes).write(to: url)
    }
}
