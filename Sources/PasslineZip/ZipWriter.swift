import CLibzip
import Foundation

/// Entries compressed once and kept in memory, to be copied as they are into many archives.
///
/// Deflating the same images for every pass would cost more than everything else but the
/// signature; this does it once per set of files.
public final class PrecompressedEntries: @unchecked Sendable {
    // Safe to share: `archive` is read-only and `idle` is only touched under `lock`. A reader
    // itself is used by one writer at a time: it is out of `idle` while a writer holds it.
    private let archive: SharedBytes
    private let lock = NSLock()
    /// Readers no writer is using. Opening one parses the central directory and stats every
    /// entry, which cost as much as the rest of zipping a pass; so readers are kept and reused.
    private var idle: [ZipReader] = []
    /// The names, in the order they were given.
    public let names: [String]

    /// Compresses `files` (name and bytes) once.
    ///
    /// Every file is deflated, PNGs too: a deflated PNG is a few bytes larger, but libzip copies
    /// deflated data as it is, whereas a stored entry gets its CRC recomputed in every archive.
    /// - Throws: `ZipError.writeFailed`.
    public init(_ files: [(name: String, bytes: [UInt8])]) throws {
        let writer = try ZipWriter()
        for file in files { try writer.add(file.name, file.bytes, compress: true) }
        self.archive = SharedBytes(try writer.finish())
        self.names = files.map(\.name)
    }

    /// A reader over the compressed entries, for one archive's worth of copying; give it back
    /// with `reuse(_:)` once that archive is finished.
    func takeReader() throws -> ZipReader {
        if let reader = lock.withLock({ idle.popLast() }) { return reader }
        return try ZipReader(shared: archive, limits: ZipLimits(maxEntries: .max, maxTotalSize: .max), trusted: true)
    }

    /// Takes back a reader whose archive was finished or discarded. At most a few are kept:
    /// one per thread that builds at the same time.
    func reuse(_ reader: ZipReader) {
        lock.withLock { if idle.count < 16 { idle.append(reader) } }
    }
}

/// Writes a zip archive in memory.
public final class ZipWriter {
    private let source: OpaquePointer
    private var archive: OpaquePointer?
    /// Readers whose entries are being copied; libzip reads them when the archive is finished.
    private var sources: [(reader: ZipReader, owner: PrecompressedEntries)] = []
    private var modified: time_t
    private var count = 0

    /// - Parameter modified: the time written into every entry (defaults to now).
    /// - Throws: `ZipError.writeFailed`.
    public init(modified: Date = Date()) throws {
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        guard let source = zip_source_buffer_create(nil, 0, 0, &error) else {
            throw ZipError(.writeFailed, "Could not start an archive: \(String(cString: zip_error_strerror(&error))).")
        }
        guard let archive = zip_open_from_source(source, passline_zip_truncate(), &error) else {
            zip_source_free(source)
            throw ZipError(.writeFailed, "Could not start an archive: \(String(cString: zip_error_strerror(&error))).")
        }
        // The archive frees its source on close; keep one reference to read the result back.
        zip_source_keep(source)
        self.source = source
        self.archive = archive
        self.modified = time_t(modified.timeIntervalSince1970)
    }

    deinit {
        if let archive { zip_discard(archive) }
        zip_source_free(source)
        returnReaders()
    }

    /// Once the archive is closed or discarded, libzip holds no source over the readers any more.
    private func returnReaders() {
        for (reader, owner) in sources { owner.reuse(reader) }
        sources.removeAll()
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
        try insert(name, data, method: compress ? passline_zip_cm_deflate() : passline_zip_cm_store())
    }

    /// Adds every entry of `entries` as already compressed, without inflating or deflating it.
    /// - Throws: `ZipError.writeFailed`.
    public func addAll(_ entries: PrecompressedEntries) throws {
        let archive = try open()
        let reader = try entries.takeReader()
        sources.append((reader, entries))
        for entry in reader.entries {
            // start 0, length -1: libzip copies the compressed data as it is.
            guard let data = zip_source_zip(archive, reader.archive, zip_uint64_t(entry.index), 0, 0, -1) else {
                throw writeError("copy \(entry.name)")
            }
            // The method must be the one the data already has: left at "default", libzip
            // treats the copy as needing (re)compression and deflates it for every archive.
            try insert(entry.name, data, method: entry.isCompressed ? passline_zip_cm_deflate() : passline_zip_cm_store(), setTime: false)
        }
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
        returnReaders()

        guard zip_source_open(source) == 0 else { throw ZipError(.writeFailed, "Could not read the finished archive back.") }
        defer { zip_source_close(source) }
        var stat = zip_stat_t()
        zip_stat_init(&stat)
        guard zip_source_stat(source, &stat) == 0 else { throw ZipError(.writeFailed, "Could not size the finished archive.") }
        let size = Int(stat.size)
        var read: Int64 = -1
        let out = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            read = zip_source_read(source, buffer.baseAddress, zip_uint64_t(size))
            count = read == Int64(size) ? size : 0
        }
        guard read == Int64(size) else { throw ZipError(.writeFailed, "Could not read the finished archive back.") }
        return out
    }

    private func open() throws -> OpaquePointer {
        guard let archive else { throw ZipError(.writeFailed, "The archive was already finished.") }
        return archive
    }

    /// - Parameter setTime: false for a copied entry, which keeps the time it was compressed
    ///   with; setting it would clone the entry's directory record in libzip for every archive.
    private func insert(_ name: String, _ data: OpaquePointer, method: Int32, setTime: Bool = true) throws {
        let archive = try open()
        let index = zip_file_add(archive, name, data, passline_zip_fl_overwrite() | passline_zip_fl_enc_utf_8())
        guard index >= 0 else {
            zip_source_free(data)
            throw writeError("add \(name)")
        }
        count += 1
        _ = zip_set_file_compression(archive, zip_uint64_t(index), method, 0)
        if setTime { _ = zip_file_set_mtime(archive, zip_uint64_t(index), modified, 0) }
    }

    private func writeError(_ what: String) -> ZipError {
        let reason = archive.map { String(cString: zip_strerror($0)) } ?? "archive closed"
        return ZipError(.writeFailed, "Could not \(what) in the archive: \(reason).")
    }
}

@available(*, unavailable, message: "A ZipWriter builds one archive on one thread.")
extension ZipWriter: Sendable {}
