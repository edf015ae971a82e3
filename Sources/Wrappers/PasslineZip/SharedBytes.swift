/// Bytes in memory that libzip reads in place. libzip keeps a pointer into them for as long as
/// an archive over them is open, so they live in their own allocation, not in a Swift array
/// whose storage may move.
final class SharedBytes: @unchecked Sendable {
    // Safe to share: written once in init, read-only afterwards.
    let pointer: UnsafeMutableRawBufferPointer

    init(_ bytes: [UInt8]) {
        let pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { pointer.copyMemory(from: $0) }
        self.pointer = pointer
        self.count = bytes.count
    }

    let count: Int

    deinit { pointer.deallocate() }
}
