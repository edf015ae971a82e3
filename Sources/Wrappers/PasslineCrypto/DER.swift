/// Just enough DER to write a PKCS#7 SignedData: tag-length-value with definite lengths.
enum DER {
    static let sequence: UInt8 = 0x30
    static let set: UInt8 = 0x31
    static let integer: UInt8 = 0x02
    static let octetString: UInt8 = 0x04
    static let null: UInt8 = 0x05
    static let oid: UInt8 = 0x06
    static let utcTime: UInt8 = 0x17
    static let generalizedTime: UInt8 = 0x18
    /// [0], constructed: EXPLICIT content, or IMPLICIT SET OF.
    static let contextZero: UInt8 = 0xA0

    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(content.count + 6)
        append(tag, content, to: &out)
        return out
    }

    static func append(_ tag: UInt8, _ content: [UInt8], to out: inout [UInt8]) {
        appendHeader(tag, length: content.count, to: &out)
        out.append(contentsOf: content)
    }

    static func appendHeader(_ tag: UInt8, length: Int, to out: inout [UInt8]) {
        out.append(tag)
        if length < 0x80 {
            out.append(UInt8(length))
        } else {
            let count = lengthBytes(length)
            out.append(0x80 | UInt8(count))
            for shift in stride(from: (count - 1) * 8, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> shift)) }
        }
    }

    /// The size of a TLV whose content is `length` bytes long.
    static func size(content length: Int) -> Int {
        1 + (length < 0x80 ? 1 : 1 + lengthBytes(length)) + length
    }

    private static func lengthBytes(_ length: Int) -> Int {
        var count = 0, n = length
        while n > 0 { count += 1; n >>= 8 }
        return count
    }

    /// An OBJECT IDENTIFIER from dotted text.
    static func objectIdentifier(_ dotted: String) -> [UInt8] {
        let arcs = dotted.split(separator: ".").map { UInt64($0)! }
        var body: [UInt8] = [UInt8(arcs[0] * 40 + arcs[1])]
        for arc in arcs.dropFirst(2) {
            var chunk: [UInt8] = [UInt8(arc & 0x7F)]
            var rest = arc >> 7
            while rest > 0 { chunk.insert(UInt8(rest & 0x7F) | 0x80, at: 0); rest >>= 7 }
            body += chunk
        }
        return tlv(oid, body)
    }

    /// AlgorithmIdentifier with NULL parameters (or none, for ECDSA).
    static func algorithm(_ dotted: String, nullParameters: Bool = true) -> [UInt8] {
        tlv(sequence, objectIdentifier(dotted) + (nullParameters ? [null, 0x00] : []))
    }
}
