import CLibzip

/// One entry of an archive, as its central directory describes it.
public struct ZipEntry: Sendable, Equatable {
    public let index: Int
    public let name: String
    public let size: Int
    public let compressedSize: Int
    /// True when the entry is deflated, false when stored.
    public let isCompressed: Bool
}

/// Limits on what an archive from outside may hold, so a small upload cannot expand into gigabytes.
public struct ZipLimits: Sendable {
    public var maxEntries: Int
    public var maxTotalSize: Int
    public init(maxEntries: Int = 1_000, maxTotalSize: Int = 64 << 20) {
        self.maxEntries = maxEntries
        self.maxTotalSize = maxTotalSize
    }
}

/// Reads a zip archive held in memory. Not thread-safe: libzip keeps one read position per archive.
public final class ZipReader {
    let archive: OpaquePointer
    private let bytes: SharedBytes
    public let entries: [ZipEntry]

    /// Opens an archive from bytes.
    /// - Throws: `ZipError.notAZip` when the bytes are not a readable archive, `.tooLarge` when it is over `limits`.
    public convenience init(bytes: [UInt8], limits: ZipLimits = ZipLimits()) throws {
        try self.init(shared: SharedBytes(bytes), limits: limits)
    }

    /// - Parameter trusted: bytes this process wrote itself, which skip libzip's consistency check.
    init(shared: SharedBytes, limits: ZipLimits, trusted: Bool = false) throws {
        // libzip reads zero bytes as an empty archive; an upload of nothing is a mistake to report.
        guard shared.count >= 22 else {
            throw ZipError(.notAZip, "The data is not a zip archive (\(shared.count) bytes; the smallest archive has 22).")
        }
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        guard let source = zip_source_buffer_create(shared.pointer.baseAddress, zip_uint64_t(shared.count), 0, &error) else {
            throw ZipError(.notAZip, "Could not read the archive: \(String(cString: zip_error_strerror(&error))).")
        }
        guard let archive = zip_open_from_source(source, passline_zip_rdonly() | (trusted ? 0 : passline_zip_checkcons()), &error) else {
            zip_source_free(source)
            throw ZipError(.notAZip, "The data is not a zip archive (\(String(cString: zip_error_strerror(&error)))).")
        }
        self.archive = archive
        self.bytes = shared

        let count = Int(zip_get_num_entries(archive, 0))
        guard count <= limits.maxEntries else {
            zip_discard(archive)
            throw ZipError(.tooLarge, "The archive holds \(count) entries; at most \(limits.maxEntries) are accepted.")
        }
        var entries: [ZipEntry] = []
        entries.reserveCapacity(count)
        var total = 0
        for index in 0..<count {
            var stat = zip_stat_t()
            zip_stat_init(&stat)
            guard zip_stat_index(archive, zip_uint64_t(index), 0, &stat) == 0, let name = stat.name else {
                zip_discard(archive)
                throw ZipError(.damaged, "Entry \(index) of the archive cannot be read.")
            }
            let size = Int(clamping: stat.size)
            total += size
            guard total <= limits.maxTotalSize else {
                zip_discard(archive)
                throw ZipError(.tooLarge, "The archive expands to more than \(limits.maxTotalSize) bytes, the limit.")
            }
            entries.append(ZipEntry(
                index: index, name: String(cString: name), size: size,
                compressedSize: Int(clamping: stat.comp_size), isCompressed: stat.comp_method != UInt16(passline_zip_cm_store())
            ))
        }
        self.entries = entries
    }

    deinit { zip_discard(archive) }

    /// The entry with `name`, if any.
    public func entry(named name: String) -> ZipEntry? { entries.first { $0.name == name } }

    /// The uncompressed bytes of an entry, checked against its CRC by libzip.
    /// - Throws: `ZipError.damaged` when the data does not inflate or its CRC is wrong.
    public func read(_ entry: ZipEntry) throws -> [UInt8] {
        guard let file = zip_fopen_index(archive, zip_uint64_t(entry.index), 0) else {
            throw ZipError(.damaged, "\(entry.name) in the archive cannot be opened: \(String(cString: zip_strerror(archive))).")
        }
        defer { zip_fclose(file) }
        var out = [UInt8](repeating: 0, count: entry.size)
        var filled = 0
        while filled < entry.size {
            let got = out.withUnsafeMutableBytes { raw in
                zip_fread(file, raw.baseAddress! + filled, zip_uint64_t(entry.size - filled))
            }
            guard got > 0 else {
                throw ZipError(.damaged, "\(entry.name) in the archive is damaged: \(String(cString: zip_file_strerror(file))).")
            }
            filled += Int(got)
        }
        // One more read makes libzip check the CRC at the end of the data.
        var probe: UInt8 = 0
        guard zip_fread(file, &probe, 1) == 0 else {
            throw ZipError(.damaged, "\(entry.name) in the archive is longer than its directory entry says.")
        }
        return out
    }

    /// The uncompressed bytes of the entry called `name`.
    /// - Throws: `ZipError.missingEntry` when there is none.
    public func read(named name: String) throws -> [UInt8] {
        guard let entry = entry(named: name) else { throw ZipError(.missingEntry, "The archive has no \(name).") }
        return try read(entry)
    }
}

@available(*, unavailable, message: "libzip keeps one read position per archive; use one reader per thread.")
extension ZipReader: Sendable {}
