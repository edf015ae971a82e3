import CLibzip

/// Where an archive is written: a libzip source that reads an existing archive (the base) in
/// place and collects what libzip writes in one Swift array.
///
/// It supports cloning (`ZIP_SOURCE_BEGIN_WRITE_CLONING`): when the first entries of an archive
/// are unchanged, libzip asks to keep the base up to where they end and writes only what follows.
/// The kept part is copied into the output once; without cloning, libzip would read every entry
/// back through its 8 KB buffer and write it out again, and the result would be copied out of a
/// buffer source once more. libzip's own buffer source clones too, but after the commit it frees
/// memory it was told it does not own (1.7.3), so it cannot share a template's bytes.
final class ArchiveBuffer {
    private let base: SharedBytes?
    private var readOffset = 0
    /// The archive as written so far: `kept` bytes of the base, then what libzip wrote.
    private var output: [UInt8] = []
    private var kept = 0
    private var writeOffset = 0
    private var committed = false
    private var error = zip_error_t()

    /// Room for what libzip writes after the kept part of a pass: three small entries and the
    /// central directory.
    private static let tailCapacity = 16 << 10

    init(base: SharedBytes?) {
        self.base = base
        zip_error_init(&error)
    }

    deinit { zip_error_fini(&error) }

    /// A libzip source over this buffer. The source holds a reference to it until libzip frees it.
    func makeSource() throws -> OpaquePointer {
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        let context = Unmanaged.passRetained(self).toOpaque()
        guard let source = zip_source_function_create(archiveBufferCallback, context, &error) else {
            Unmanaged<ArchiveBuffer>.fromOpaque(context).release()
            throw ZipError(.writeFailed, "Could not start an archive: \(String(cString: zip_error_strerror(&error))).")
        }
        return source
    }

    /// The finished archive, handed over (the buffer is empty afterwards). Before any commit,
    /// that is when libzip found nothing changed, the archive is the base as it is.
    func takeArchive() -> [UInt8] {
        guard committed else {
            guard let base else { return [] }
            return Array(UnsafeRawBufferPointer(start: base.pointer.baseAddress, count: base.count))
        }
        var archive: [UInt8] = []
        swap(&archive, &output)
        return archive
    }

    private var baseCount: Int { base?.count ?? 0 }

    fileprivate func handle(_ command: zip_source_cmd_t, _ data: UnsafeMutableRawPointer?, _ length: Int) -> zip_int64_t {
        switch command {
        case ZIP_SOURCE_OPEN:
            readOffset = 0
            return 0
        case ZIP_SOURCE_READ:
            let count = min(length, baseCount - readOffset)
            if count > 0, let base, let data {
                data.copyMemory(from: base.pointer.baseAddress! + readOffset, byteCount: count)
            }
            readOffset += max(count, 0)
            return zip_int64_t(max(count, 0))
        case ZIP_SOURCE_CLOSE:
            return 0
        case ZIP_SOURCE_STAT:
            guard let data, length >= MemoryLayout<zip_stat_t>.size else { return fail(ZIP_ER_INVAL) }
            let stat = data.assumingMemoryBound(to: zip_stat_t.self)
            zip_stat_init(stat)
            stat.pointee.size = zip_uint64_t(baseCount)
            stat.pointee.valid |= zip_uint64_t(ZIP_STAT_SIZE)
            return zip_int64_t(MemoryLayout<zip_stat_t>.size)
        case ZIP_SOURCE_ERROR:
            guard let data else { return fail(ZIP_ER_INVAL) }
            return zip_error_to_data(&error, data, zip_uint64_t(length))
        case ZIP_SOURCE_SEEK:
            guard let data else { return fail(ZIP_ER_INVAL) }
            let offset = zip_source_seek_compute_offset(zip_uint64_t(readOffset), zip_uint64_t(baseCount), data, zip_uint64_t(length), &error)
            guard offset >= 0 else { return -1 }
            readOffset = Int(offset)
            return 0
        case ZIP_SOURCE_TELL:
            return zip_int64_t(readOffset)
        case ZIP_SOURCE_BEGIN_WRITE:
            begin(keeping: 0)
            return 0
        case ZIP_SOURCE_BEGIN_WRITE_CLONING:
            guard length <= baseCount else { return fail(ZIP_ER_INVAL) }
            begin(keeping: length)
            return 0
        case ZIP_SOURCE_WRITE:
            guard length == 0 || data != nil else { return fail(ZIP_ER_INVAL) }
            write(UnsafeRawBufferPointer(start: data, count: length))
            return zip_int64_t(length)
        case ZIP_SOURCE_SEEK_WRITE:
            guard let data else { return fail(ZIP_ER_INVAL) }
            let offset = zip_source_seek_compute_offset(zip_uint64_t(writeOffset), zip_uint64_t(output.count), data, zip_uint64_t(length), &error)
            guard offset >= 0 else { return -1 }
            // What was kept by cloning belongs to the base; libzip never writes there.
            guard Int(offset) >= kept else { return fail(ZIP_ER_INVAL) }
            writeOffset = Int(offset)
            return 0
        case ZIP_SOURCE_TELL_WRITE:
            return zip_int64_t(writeOffset)
        case ZIP_SOURCE_COMMIT_WRITE:
            committed = true
            return 0
        case ZIP_SOURCE_ROLLBACK_WRITE:
            output = []
            kept = 0
            writeOffset = 0
            return 0
        case ZIP_SOURCE_REMOVE:
            output = []
            committed = true
            return 0
        case ZIP_SOURCE_SUPPORTS:
            return passline_zip_archive_buffer_supports()
        default:
            return fail(ZIP_ER_OPNOTSUPP)
        }
    }

    private func begin(keeping count: Int) {
        output = []
        output.reserveCapacity(count + Self.tailCapacity)
        if count > 0, let base {
            output.append(contentsOf: UnsafeRawBufferPointer(start: base.pointer.baseAddress, count: count))
        }
        kept = count
        writeOffset = count
    }

    private func write(_ bytes: UnsafeRawBufferPointer) {
        let overlap = min(bytes.count, output.count - writeOffset)
        if overlap > 0 {
            output.withUnsafeMutableBytes { out in
                (out.baseAddress! + writeOffset).copyMemory(from: bytes.baseAddress!, byteCount: overlap)
            }
        }
        if overlap < bytes.count {
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[overlap...]))
        }
        writeOffset += bytes.count
    }

    private func fail(_ code: Int32) -> zip_int64_t {
        zip_error_set(&error, code, 0)
        return -1
    }
}

private func archiveBufferCallback(
    _ context: UnsafeMutableRawPointer?, _ data: UnsafeMutableRawPointer?, _ length: zip_uint64_t, _ command: zip_source_cmd_t
) -> zip_int64_t {
    guard let context else { return -1 }
    let buffer = Unmanaged<ArchiveBuffer>.fromOpaque(context)
    if command == ZIP_SOURCE_FREE {
        // The reference taken in makeSource; the buffer may be gone after this.
        buffer.release()
        return 0
    }
    return buffer.takeUnretainedValue().handle(command, data, Int(clamping: length))
}
