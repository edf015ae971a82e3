import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Which addresses a webhook may be sent to. A partner names the URL, so without this a
/// tenant could make Passline call its own metadata service or a database on the private
/// network (SSRF). Only public unicast addresses pass; loopback passes too when the operator
/// allows it (tests, local development).
public struct WebhookAddresses: Sendable {
    public let allowLoopback: Bool

    public init(allowLoopback: Bool) {
        self.allowLoopback = allowLoopback
    }

    /// Whether a numeric IPv4 or IPv6 address may be reached.
    public func allows(_ address: String) -> Bool {
        guard let bytes = Self.parse(address) else { return false }
        if Self.isLoopback(bytes) { return allowLoopback }
        return Self.isPublic(bytes)
    }

    /// Why `url` cannot be an endpoint, or nil when it can: https (http only to loopback when
    /// allowed), a host, no credentials, and every address its host resolves to allowed.
    /// Resolving blocks, so it runs on a thread of its own.
    public func fault(of url: String) async -> String? {
        guard url.utf8.count <= 2048, let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else {
            return "must be an absolute https URL of at most 2,048 characters"
        }
        if components.user != nil || components.password != nil { return "must not carry a user name or password" }
        if components.fragment != nil { return "must not have a fragment" }
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard Self.parse(bare) != nil || Self.isHostName(bare) else { return "names no valid host (\(bare.prefix(64)))" }
        let addresses = await Self.resolve(bare)
        guard !addresses.isEmpty else { return "names a host that does not resolve (\(bare.prefix(253)))" }
        let loopbackOnly = addresses.allSatisfy { Self.parse($0).map(Self.isLoopback) ?? false }
        switch scheme {
        case "https": break
        case "http" where allowLoopback && loopbackOnly: break
        default: return "must be https"
        }
        if let refused = addresses.first(where: { !allows($0) }) {
            return "resolves to \(refused), a loopback, private, link-local or otherwise internal address that webhooks may not reach"
        }
        return nil
    }

    /// A DNS name: labels of letters, digits and hyphens, 1 to 63 long, 253 in all.
    static func isHostName(_ host: String) -> Bool {
        let name = host.hasSuffix(".") ? String(host.dropLast()) : host
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d }
        }
    }

    /// How long a name may take to resolve before the URL is refused as not resolving.
    static let resolveSeconds = 3.0

    /// The host's addresses, numeric; a numeric host is its own. Empty when it does not
    /// resolve within `resolveSeconds` (the lookup thread is left to finish on its own).
    static func resolve(_ host: String) async -> [String] {
        if parse(host) != nil { return [host] }
        let once = Once()
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(deadline: .now() + resolveSeconds) {
                if once.claim() { continuation.resume(returning: []) }
            }
            DispatchQueue.global().async {
                let found = lookUp(host)
                if once.claim() { continuation.resume(returning: found) }
            }
        }
    }

    /// Whichever of two callers claims it first.
    private final class Once: Sendable {
        private let taken = Mutex(false)
        func claim() -> Bool { taken.withLock { taken in defer { taken = true }; return !taken } }
    }

    /// getaddrinfo: blocks, so only ever on a thread of its own.
    private static func lookUp(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var found: [String] = []
        var cursor = list
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                found.append(String(cString: buffer))
            }
            cursor = entry.pointee.ai_next
        }
        return Array(Set(found)).sorted()
    }

    /// 4 or 16 bytes; an IPv4-mapped IPv6 address is its IPv4 address.
    static func parse(_ address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        let zoneless = address.split(separator: "%", maxSplits: 1).first.map(String.init) ?? address
        guard inet_pton(AF_INET6, zoneless, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return Array(bytes[12...]) }
        return bytes
    }

    static func isLoopback(_ bytes: [UInt8]) -> Bool {
        bytes.count == 4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    /// Public unicast: none of the ranges IANA reserves for private, shared, loopback,
    /// link-local (where cloud metadata lives), documentation, benchmarking, multicast or
    /// unspecified use.
    static func isPublic(_ bytes: [UInt8]) -> Bool {
        if bytes.count == 4 {
            let (a, b) = (bytes[0], bytes[1])
            switch a {
            case 0, 10, 127: return false
            case 100 where (64...127).contains(b): return false          // shared address space (CGNAT)
            case 169 where b == 254: return false                          // link-local, cloud metadata
            case 172 where (16...31).contains(b): return false
            case 192 where b == 168: return false
            case 192 where b == 0 && bytes[2] == 0, 192 where b == 0 && bytes[2] == 2: return false
            case 198 where b == 18 || b == 19: return false                // benchmarking
            case 198 where b == 51 && bytes[2] == 100, 203 where b == 0 && bytes[2] == 113: return false
            case 224...255: return false                                   // multicast, reserved, broadcast
            default: return true
            }
        }
        guard bytes.count == 16 else { return false }
        if bytes.allSatisfy({ $0 == 0 }) || isLoopback(bytes) { return false }
        if bytes[0] & 0xfe == 0xfc { return false }                        // unique local fc00::/7
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return false }    // link-local fe80::/10
        if bytes[0] == 0xff { return false }                               // multicast
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8 { return false } // documentation
        if bytes[0..<12].allSatisfy({ $0 == 0 }) { return false }          // IPv4-compatible, deprecated
        if bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b { return false } // NAT64 reaches IPv4 anywhere
        return true
    }
}
