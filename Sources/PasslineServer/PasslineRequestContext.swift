import Hummingbird
import NIOCore

/// What the routes know of a request besides the request itself: where it came from, for
/// limits per source and for what only this machine may read.
public protocol SourceAwareRequestContext: RequestContext {
    /// The peer's IP address; nil for a Unix socket or a test without one.
    var remoteIP: String? { get }
}

extension SourceAwareRequestContext {
    /// Whether the peer is this machine (127.0.0.0/8 or ::1).
    var isLoopback: Bool { remoteIP.map(ServerConfiguration.isLoopback) ?? false }
}

public struct PasslineRequestContext: SourceAwareRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteIP: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteIP = source.channel.remoteAddress?.ipAddress
    }
}
