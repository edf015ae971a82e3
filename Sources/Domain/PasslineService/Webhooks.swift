import Foundation
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineSQL
import PasslineStore

/// A tenant's webhook endpoints per mode, their secrets, and their delivery log. Events reach
/// them from the outbox (`Events.emit`, in each change's transaction); the sender delivers.
public final class Webhooks: Sendable {
    public let database: any SQLDatabase
    let secrets: SecretBox
    public let addresses: WebhookAddresses
    /// How long the secret a rotation replaced still signs, so receivers can switch over.
    public static let rotationGraceMilliseconds: Int64 = 24 * 3_600_000
    public static let maxEndpointsPerMode = 20
    /// The master key's box, for a test that builds a second service over the same store.
    public var secretsForTests: SecretBox { secrets }

    public init(database: any SQLDatabase, secrets: SecretBox, addresses: WebhookAddresses) {
        self.database = database
        self.secrets = secrets
        self.addresses = addresses
    }

    public typealias Endpoint = WebhookEndpoints.Endpoint

    /// What a partner sends to make or change an endpoint; nil leaves a field as it is.
    public struct EndpointChange: Sendable {
        public var url: String?
        public var events: [String]?
        public var description: String?
        public var disabled: Bool?
        public init(url: String? = nil, events: [String]? = nil, description: String? = nil, disabled: Bool? = nil) {
            self.url = url; self.events = events; self.description = description; self.disabled = disabled
        }
    }

    /// Adds an endpoint; returns it with its secret (`whsec_…`), shown this once.
    /// - Throws: `DomainError.invalid` naming each bad field, `.conflict` past the most endpoints a mode may have.
    public func create(tenant: String, mode: CardMode, _ change: EndpointChange, now: Int64 = WallClock.milliseconds()) async throws -> (Endpoint, secret: String) {
        var faults: [DomainError.Fault] = []
        if change.url == nil { faults.append(.init("url", "is required: the https URL events are sent to")) }
        if change.events == nil { faults.append(.init("events", "is required: the event types to send, for example [\"transaction.created\"]")) }
        faults += await self.faults(change)
        try DomainError.check(faults, "The webhook endpoint is not valid")
        let secret = Self.newSecret()
        let endpoint = Endpoint(id: "we_" + SecureRandom.token(length: 20), tenant: tenant, mode: mode, url: change.url!, events: change.events!,
                                description: change.description ?? "", secretSealed: try seal(secret, tenant: tenant), createdAt: now, updatedAt: now,
                                disabledAt: change.disabled == true ? now : nil)
        try await database.transaction { connection in
            let count = try WebhookEndpoints.list(tenant: tenant, mode: mode, on: connection).count
            guard count < Self.maxEndpointsPerMode else {
                throw DomainError(.conflict, "The tenant has \(count) webhook endpoints in \(mode.rawValue) mode, the most it may have; delete one first.")
            }
            try WebhookEndpoints.insert(endpoint, on: connection)
        }
        return (endpoint, secret)
    }

    public func list(tenant: String, mode: CardMode) async throws -> [Endpoint] {
        try await database.withConnection { try WebhookEndpoints.list(tenant: tenant, mode: mode, on: $0) }
    }

    /// - Throws: `DomainError.notFound` for another tenant's or mode's endpoint alike.
    public func get(tenant: String, mode: CardMode, id: String) async throws -> Endpoint {
        guard let found = try await database.withConnection({ try WebhookEndpoints.get(id, tenant: tenant, mode: mode, on: $0) }) else {
            throw DomainError(.notFound, "No webhook endpoint \(id).")
        }
        return found
    }

    /// Changes an endpoint; enabling one that was disabled clears its failure record.
    public func update(tenant: String, mode: CardMode, id: String, _ change: EndpointChange, now: Int64 = WallClock.milliseconds()) async throws -> Endpoint {
        try DomainError.check(await faults(change), "The webhook endpoint is not valid")
        return try await database.transaction { connection in
            guard var endpoint = try WebhookEndpoints.get(id, tenant: tenant, mode: mode, on: connection) else {
                throw DomainError(.notFound, "No webhook endpoint \(id).")
            }
            if let url = change.url { endpoint.url = url }
            if let events = change.events { endpoint.events = events }
            if let description = change.description { endpoint.description = description }
            switch change.disabled {
            case true?: if endpoint.disabledAt == nil { endpoint.disabledAt = now; endpoint.disabledReason = "disabled over the API" }
            case false?: endpoint.disabledAt = nil; endpoint.disabledReason = nil; endpoint.failingSince = nil
            case nil: break
            }
            endpoint.updatedAt = now
            try WebhookEndpoints.update(endpoint, on: connection)
            return endpoint
        }
    }

    public func delete(tenant: String, mode: CardMode, id: String) async throws {
        _ = try await get(tenant: tenant, mode: mode, id: id)
        try await database.transaction { try WebhookEndpoints.delete(id, tenant: tenant, on: $0) }
    }

    /// A new secret; the old one keeps signing beside it for `rotationGraceMilliseconds`.
    public func rotateSecret(tenant: String, mode: CardMode, id: String, now: Int64 = WallClock.milliseconds()) async throws -> (Endpoint, secret: String) {
        let secret = Self.newSecret()
        let sealed = try seal(secret, tenant: tenant)
        let endpoint = try await database.transaction { connection in
            guard var endpoint = try WebhookEndpoints.get(id, tenant: tenant, mode: mode, on: connection) else {
                throw DomainError(.notFound, "No webhook endpoint \(id).")
            }
            endpoint.previousSecretSealed = endpoint.secretSealed
            endpoint.previousUntil = now + Self.rotationGraceMilliseconds
            endpoint.secretSealed = sealed
            endpoint.updatedAt = now
            try WebhookEndpoints.update(endpoint, on: connection)
            return endpoint
        }
        return (endpoint, secret)
    }

    /// The secrets that sign a delivery now: the current one, and the previous one during a rotation's grace.
    public func signingSecrets(_ endpoint: Endpoint, now: Int64 = WallClock.milliseconds()) throws -> [String] {
        var secrets = [try open(endpoint.secretSealed, tenant: endpoint.tenant)]
        if let previous = endpoint.previousSecretSealed, let until = endpoint.previousUntil, until > now {
            secrets.append(try open(previous, tenant: endpoint.tenant))
        }
        return secrets
    }

    /// The newest delivery attempts to an endpoint.
    public func attempts(tenant: String, mode: CardMode, id: String, limit: Int) async throws -> [WebhookAttempts.Attempt] {
        _ = try await get(tenant: tenant, mode: mode, id: id)
        return try await database.withConnection { try WebhookAttempts.list(endpoint: id, limit: limit, on: $0) }
    }

    /// Sends an event again to every endpoint of its mode that subscribes to it.
    /// - Throws: `DomainError.notFound` for another tenant's or mode's event alike.
    public func replay(tenant: String, mode: CardMode, event id: String, now: Int64 = WallClock.milliseconds()) async throws -> Int {
        let count = try await database.transaction { connection -> Int in
            guard let event = try Events.get(id, tenant: tenant, on: connection), event.mode == mode else { throw DomainError(.notFound, "No event \(id).") }
            return try Events.replay(event, now: now, on: connection)
        }
        return count
    }

    /// Sends again every event whose delivery to the endpoint failed for good since `since`.
    public func replayFailed(tenant: String, mode: CardMode, id: String, since: Int64, now: Int64 = WallClock.milliseconds()) async throws -> Int {
        let endpoint = try await get(tenant: tenant, mode: mode, id: id)
        return try await database.transaction { try Events.replayFailed(endpoint: endpoint, since: since, now: now, on: $0) }
    }

    // MARK: Checks and secrets

    private func faults(_ change: EndpointChange) async -> [DomainError.Fault] {
        var faults: [DomainError.Fault] = []
        if let url = change.url, let fault = await addresses.fault(of: url) { faults.append(.init("url", fault)) }
        if let events = change.events {
            let known = Set(DomainEvent.Kind.allCases.map(\.rawValue))
            if events.isEmpty || events.count > known.count { faults.append(.init("events", "must name 1 to \(known.count) event types")) }
            for (index, name) in events.enumerated() where !known.contains(name) {
                faults.append(.init("events[\(index)]", "is not an event type (they are \(known.sorted().joined(separator: ", ")))"))
            }
            if Set(events).count != events.count { faults.append(.init("events", "names a type twice")) }
        }
        if let description = change.description, description.count > 500 || description.utf8.contains(0) {
            faults.append(.init("description", "must be at most 500 characters without NUL"))
        }
        return faults
    }

    /// `whsec_` and 32 random bytes in base64, as the Standard Webhooks libraries expect.
    static func newSecret() -> String { "whsec_" + Data(SecureRandom.bytes(32)).base64EncodedString() }

    private func seal(_ secret: String, tenant: String) throws -> [UInt8] {
        try secrets.seal(Array(secret.utf8), context: "webhook:\(tenant)")
    }

    private func open(_ sealed: [UInt8], tenant: String) throws -> String {
        String(decoding: try secrets.open(sealed, context: "webhook:\(tenant)"), as: UTF8.self)
    }
}
