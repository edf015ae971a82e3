import CLibzip
import Foundation

/// Entries compressed once and kept in memory, as an archive that many archives start with.
///
/// Deflating the same images for every pass would cost more than everything else but the
/// signature; this does it once per set of files.
public final class PrecompressedEntries: Sendable {
    /// The entries as one archive, read in place by every writer that starts with them.
    let archive: SharedBytes
    /// The names, in the order they were given.
    public let names: [String]

    /// Compresses `files` (name and bytes) once.
    ///
    /// Every file is deflated, PNGs too: a deflated PNG is a few bytes larger, and entries are
    /// then all alike.
    /// - Throws: `ZipError.writeFailed`.
    public init(_ files: [(name: String, bytes: [UInt8])]) throws {
        let writer = try ZipWriter()
        for file in files { try writer.add(file.name, file.bytes, compress: true) }
        self.archive = SharedBytes(try writer.finish())
        self.names = files.map(\.name)
    }
}

/// Writes a zip archive in memory.
public final class ZipWriter {
    private let buffer: ArchiveBuffer
    private let source: OpaquePointer
    private var archive: OpaquePointer?
    private var modified: time_t
    private var count: Int

    /// Starts an empty archive.
    /// - Parameter modified: the time written into every entry added (defaults to now).
    /// - Throws: `ZipError.writeFailed`.
    public convenience init(modified: Date = Date()) throws {
        try self.init(base: nil, modified: modified)
    }

    /// Starts an archive whose first entries are `base`'s, as they were compressed.
    ///
    /// libzip keeps the unchanged beginning of an archive whole (it clones it), so finishing
    /// writes only the entries added here and the central directory; `base`'s bytes are copied
    /// once, into the result.
    /// - Throws: `ZipError.writeFailed`.
    public convenience init(startingWith base: PrecompressedEntries, modified: Date = Date()) throws {
        try self.init(base: base.archive, modified: modified)
    }

    private init(base: SharedBytes?, modified: Date) throws {
        let buffer = ArchiveBuffer(base: base)
        let source = try buffer.makeSource()
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        // The base was written by this process: no consistency check.
        guard let archive = zip_open_from_source(source, base == nil ? passline_zip_truncate() : 0, &error) else {
            zip_source_free(source)
            throw ZipError(.writeFailed, "Could not start an archive: \(String(cString: zip_error_strerror(&error))).")
        }
        // The archive frees its source when it is closed; this reference keeps it for deinit.
        zip_source_keep(source)
        self.buffer = buffer
        self.source = source
        self.archive = archive
        self.modified = time_t(modified.timeIntervalSince1970)
        self.count = Int(zip_get_num_entries(archive, 0))
    }

    deinit {
        if let archive { zip_discard(archive) }
        zip_source_free(source)
    }

    /// Adds a file.
    /// - Parameters:
    ///   - name: the path inside the archive.
    ///   - bytes: its content (copied).
    ///   - compress: deflate (true) or store.
    /// - Throws: `ZipError.writeFailed`.
    public func add(_ name: String, _ bytes: [UInt8], compress: Bool = true) throws {
        let archive = try open()
        let copy = malloc(max(bytes.count, 1))!
        bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(copy), byteCount: bytes.count) }
        // freep = 1: libzip frees the copy when it is done with it, on success or failure.
        guard let data = zip_source_buffer(archive, copy, zip_uint64_t(bytes.count), 1) else {
            free(copy)
            throw writeError("add \(name)")
        }
        let index = zip_file_add(archive, name, data, passline_zip_fl_overwrite() | passline_zip_fl_enc_utf_8())
        guard index >= 0 else {
            zip_source_free(data)
            throw writeError("add \(name)")
        }
        count += 1
        _ = zip_set_file_compression(archive, zip_uint64_t(index), compress ? passline_zip_cm_deflate() : passline_zip_cm_store(), 0)
        _ = zip_file_set_mtime(archive, zip_uint64_t(index), modified, 0)
    }

    /// Writes the central directory and returns the archive's bytes. The writer is spent afterwards.
    /// - Throws: `ZipError.writeFailed`.
    public func finish() throws -> [UInt8] {
        let archive = try open()
        if count == 0 {
            // libzip writes nothing for an archive without entries; an empty zip is its end record alone.
            zip_discard(archive)
            self.archive = nil
            return [0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 18)
        }
        // On failure the archive stays open and deinit discards it.
        guard zip_close(archive) == 0 else { throw writeError("finish the archive") }
        self.archive = nil
        return buffer.takeArchive()
    }

    private func open() throws -> OpaquePointer {
        guard let archive else { throw ZipError(.writeFailed, "The archive was already finished.") }
        return archive
    }

    private func writeError(_ what: String) -> ZipError {
        let reason = archive.map { String(cString: zip_strerror($0)) } ?? "archive closed"
        return ZipError(.writeFailed, "Could not \(what) in the archive: \(reason).")
    }
}

@available(*, unavailable, message: "A ZipWriter builds one archive on one thread.")
extension ZipWriter: Sendable {}
