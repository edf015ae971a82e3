import COpenSSL

/// A BIO over bytes, for the duration of one call. OpenSSL reads straight from `bytes`.
func withReadBIO<R>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> R) throws -> R {
    try bytes.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
            throw CryptoError.openSSL(.digestFailed, "Out of memory while reading key material.")
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }
}

/// A growable in-memory BIO; `body` writes into it and the written bytes are returned.
func collectingWriteBIO(_ body: (OpaquePointer) throws -> Void) throws -> [UInt8] {
    guard let bio = BIO_new(BIO_s_mem()) else {
        throw CryptoError.openSSL(.generationFailed, "Out of memory while writing key material.")
    }
    defer { BIO_free(bio) }
    try body(bio)
    var start: UnsafeMutablePointer<CChar>?
    let length = passline_BIO_get_mem_data(bio, &start)
    guard length > 0, let start else { return [] }
    return start.withMemoryRebound(to: UInt8.self, capacity: length) {
        Array(UnsafeBufferPointer(start: $0, count: length))
    }
}
