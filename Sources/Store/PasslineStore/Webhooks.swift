import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineSQL

/// One event's delivery to one endpoint: the job a change's event enqueues per subscribed
/// endpoint, and what the webhook sender works.
public struct WebhookDeliveryJob: Sendable, Equatable {
    public static let kind = "webhook.deliver"
    /// Attempts before an event is marked failed for an endpoint: with `WebhookRetry`'s
    /// schedule, about three days.
    public static let maxAttempts = 10
    public var tenant: String
    public var endpoint: String
    public var event: String

    public init(tenant: String, endpoint: String, event: String) { self.tenant = tenant; self.endpoint = endpoint; self.event = event }

    public var payload: String {
        JSONWriter.string(.object(JSONObject([("tenant", .string(tenant)), ("endpoint", .string(endpoint)), ("event", .string(event))])))
    }

    public init(payload: String) throws {
        guard case .object(let object)? = try? JSONParser.parse(Array(payload.utf8)), let tenant = object["tenant"]?.stringValue,
              let endpoint = object["endpoint"]?.stringValue, let event = object["event"]?.stringValue else {
            throw JobPayloadError(Self.kind, expected: "{tenant, endpoint, event}", payload: payload)
        }
        self.init(tenant: tenant, endpoint: endpoint, event: event)
    }

    func job() -> NewJob {
        NewJob(kind: Self.kind, tenant: tenant, payload: payload, priority: .bulk, maxAttempts: Self.maxAttempts)
    }
}

/// A tenant's webhook endpoints, per mode.
public enum WebhookEndpoints {
    public struct Endpoint: Sendable, Equatable {
        public let id: String
        public let tenant: String
        public let mode: CardMode
        public var url: String
        public var events: [String]
        public var description: String
        public var secretSealed: [UInt8]
        public var previousSecretSealed: [UInt8]?
        public var previousUntil: Int64?
        public let createdAt: Int64
        public var updatedAt: Int64
        public var disabledAt: Int64?
        public var disabledReason: String?
        /// Since when every delivery to it has failed (nil: the last one succeeded).
        public var failingSince: Int64?

        public init(id: String, tenant: String, mode: CardMode, url: String, events: [String], description: String, secretSealed: [UInt8],
                    previousSecretSealed: [UInt8]? = nil, previousUntil: Int64? = nil, createdAt: Int64, updatedAt: Int64,
                    disabledAt: Int64? = nil, disabledReason: String? = nil, failingSince: Int64? = nil) {
            self.id = id; self.tenant = tenant; self.mode = mode; self.url = url; self.events = events; self.description = description
            self.secretSealed = secretSealed; self.previousSecretSealed = previousSecretSealed; self.previousUntil = previousUntil
            self.createdAt = createdAt; self.updatedAt = updatedAt; self.disabledAt = disabledAt; self.disabledReason = disabledReason
            self.failingSince = failingSince
        }

        public func subscribes(to kind: DomainEvent.Kind) -> Bool { events.contains(kind.rawValue) }
    }

    public static func insert(_ endpoint: Endpoint, on connection: any SQLConnection) throws {
        try connection.execute("""
            INSERT INTO webhook_endpoints (id, tenant_id, mode, url, events, description, secret_encrypted, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(endpoint.id), .text(endpoint.tenant), .text(endpoint.mode.rawValue), .text(endpoint.url), .text(eventsJSON(endpoint.events)),
                  .text(endpoint.description), .blob(endpoint.secretSealed), .int(endpoint.createdAt), .int(endpoint.updatedAt)])
    }

    public static func list(tenant: String, mode: CardMode, enabledOnly: Bool = false, on connection: any SQLConnection) throws -> [Endpoint] {
        try connection.query("""
            SELECT * FROM webhook_endpoints WHERE tenant_id = ? AND mode = ?\(enabledOnly ? " AND disabled_at IS NULL" : "") ORDER BY created_at, id
            """, [.text(tenant), .text(mode.rawValue)]).map(endpoint)
    }

    /// An endpoint of the tenant in `mode` (nil: any mode, for the sender).
    public static func get(_ id: String, tenant: String, mode: CardMode?, on connection: any SQLConnection) throws -> Endpoint? {
        guard let found = try connection.first("SELECT * FROM webhook_endpoints WHERE id = ? AND tenant_id = ?", [.text(id), .text(tenant)]).map(endpoint) else {
            return nil
        }
        return mode == nil || found.mode == mode ? found : nil
    }

    /// Writes back what may change: url, events, description, the secrets, disabled, failing.
    public static func update(_ endpoint: Endpoint, on connection: any SQLConnection) throws {
        try connection.execute("""
            UPDATE webhook_endpoints SET url = ?, events = ?, description = ?, secret_encrypted = ?, previous_secret_encrypted = ?, previous_until = ?,
                   updated_at = ?, disabled_at = ?, disabled_reason = ?, failing_since = ?
            WHERE id = ? AND tenant_id = ?
            """, [.text(endpoint.url), .text(eventsJSON(endpoint.events)), .text(endpoint.description), .blob(endpoint.secretSealed),
                  endpoint.previousSecretSealed.map(SQLValue.blob) ?? .null, SQLValue(endpoint.previousUntil), .int(endpoint.updatedAt),
                  SQLValue(endpoint.disabledAt), SQLValue(endpoint.disabledReason), SQLValue(endpoint.failingSince), .text(endpoint.id), .text(endpoint.tenant)])
    }

    /// Deletes an endpoint, its delivery log, and its waiting deliveries.
    public static func delete(_ id: String, tenant: String, on connection: any SQLConnection) throws {
        try connection.execute("DELETE FROM webhook_endpoints WHERE id = ? AND tenant_id = ?", [.text(id), .text(tenant)])
    }

    /// Marks a delivery's outcome on its endpoint: a success clears `failing_since`, a failure
    /// sets it if unset. Returns when the endpoint has been failing since (nil after a success).
    public static func recordOutcome(_ id: String, tenant: String, succeeded: Bool, now: Int64, on connection: any SQLConnection) throws -> Int64? {
        if succeeded {
            try connection.execute("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND tenant_id = ? AND failing_since IS NOT NULL",
                                   [.text(id), .text(tenant)])
            return nil
        }
        try connection.execute("UPDATE webhook_endpoints SET failing_since = ? WHERE id = ? AND tenant_id = ? AND failing_since IS NULL",
                               [.int(now), .text(id), .text(tenant)])
        return try connection.first("SELECT failing_since FROM webhook_endpoints WHERE id = ?", [.text(id)])?.optionalInt("failing_since")
    }

    static func eventsJSON(_ events: [String]) -> String { JSONWriter.string(.array(events.map(JSONValue.string))) }

    static func endpoint(_ row: SQLRow) throws -> Endpoint {
        let events = (try? JSONParser.parse(Array(try row.string("events").utf8)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return Endpoint(id: try row.string("id"), tenant: try row.string("tenant_id"), mode: try row.mode("mode"), url: try row.string("url"),
                        events: events, description: try row.string("description"), secretSealed: try row.blob("secret_encrypted"),
                        previousSecretSealed: try row.optionalBlob("previous_secret_encrypted"), previousUntil: try row.optionalInt("previous_until"),
                        createdAt: try row.int("created_at"), updatedAt: try row.int("updated_at"), disabledAt: try row.optionalInt("disabled_at"),
                        disabledReason: try row.optionalString("disabled_reason"), failingSince: try row.optionalInt("failing_since"))
    }
}

/// The outbox: events written with the change that caused them, and their deliveries.
public enum Events {
    /// A stored event.
    public struct Event: Sendable, Equatable {
        public let id: String
        public let tenant: String
        public let mode: CardMode
        public let type: String
        /// The snapshot, as JSON.
        public let data: String
        public let createdAt: Int64
    }

    /// Writes the events `build` makes in the caller's transaction, with one delivery job per
    /// enabled endpoint of the tenant's mode that subscribes to each. A mode without endpoints
    /// writes nothing and never calls `build`: one indexed look, so a tenant without webhooks
    /// pays no more for its changes.
    /// - Returns: how many deliveries were enqueued.
    @discardableResult
    public static func emit(tenant: String, mode: CardMode, now: Int64, on connection: any SQLConnection,
                            _ build: () throws -> [DomainEvent]) throws -> Int {
        let endpoints = try WebhookEndpoints.list(tenant: tenant, mode: mode, enabledOnly: true, on: connection)
        guard !endpoints.isEmpty else { return 0 }
        let events = try build()
        var jobs: [NewJob] = []
        for event in events {
            let listening = endpoints.filter { $0.subscribes(to: event.kind) }
            guard !listening.isEmpty else { continue }
            let id = "evt_" + SecureRandom.token(length: 24)
            try connection.execute("INSERT INTO events (id, tenant_id, mode, type, data, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                                   [.text(id), .text(tenant), .text(mode.rawValue), .text(event.kind.rawValue),
                                    .text(JSONWriter.string(.object(event.data))), .int(now)])
            jobs += listening.map { WebhookDeliveryJob(tenant: tenant, endpoint: $0.id, event: id).job() }
        }
        try JobQueue.enqueue(jobs, now: now, on: connection)
        return jobs.count
    }

    /// A card as its events show it, read in the change's transaction.
    public static func cardSnapshot(tenant: String, serial: String, on connection: any SQLConnection) throws -> JSONObject {
        guard let row = try connection.first("""
            SELECT serial_number, template_id, member_id, member_name, points, version, voided, fields, updated_at FROM cards
            WHERE tenant_id = ? AND serial_number = ?
            """, [.text(tenant), .text(serial)]) else { return JSONObject([("serialNumber", .string(serial))]) }
        return JSONObject([
            ("serialNumber", .string(serial)), ("templateId", .string(try row.string("template_id"))), ("memberId", .string(try row.string("member_id"))),
            ("memberName", .string(try row.string("member_name"))), ("points", .int(try row.int("points"))), ("version", .int(try row.int("version"))),
            ("voided", .bool(try row.bool("voided"))),
            ("fields", (try? JSONParser.parse(Array(try row.string("fields").utf8))) ?? .object(JSONObject())),
            ("updatedAt", .string(Timestamp.format(try row.int("updated_at")))),
        ])
    }

    /// The events of a card's change: `card.voided` when it was voided, else `card.updated`.
    public static func cardChanged(tenant: String, mode: CardMode, serial: String, voided: Bool, now: Int64, on connection: any SQLConnection) throws {
        try emit(tenant: tenant, mode: mode, now: now, on: connection) {
            [DomainEvent(voided ? .cardVoided : .cardUpdated, JSONObject([("card", .object(try cardSnapshot(tenant: tenant, serial: serial, on: connection)))]))]
        }
    }

    /// An event of the tenant (nil: any tenant's, for the sender).
    public static func get(_ id: String, tenant: String, on connection: any SQLConnection) throws -> Event? {
        try connection.first("SELECT * FROM events WHERE id = ? AND tenant_id = ?", [.text(id), .text(tenant)]).map { row in
            Event(id: try row.string("id"), tenant: try row.string("tenant_id"), mode: try row.mode("mode"), type: try row.string("type"),
                  data: try row.string("data"), createdAt: try row.int("created_at"))
        }
    }

    /// Delivers an event again to each endpoint of its mode subscribed to it (or to one).
    /// - Returns: the deliveries enqueued.
    public static func replay(_ event: Event, endpoint: String? = nil, now: Int64, on connection: any SQLConnection) throws -> Int {
        let endpoints = try WebhookEndpoints.list(tenant: event.tenant, mode: event.mode, enabledOnly: true, on: connection)
            .filter { $0.events.contains(event.type) && (endpoint == nil || $0.id == endpoint) }
        try JobQueue.enqueue(endpoints.map { WebhookDeliveryJob(tenant: event.tenant, endpoint: $0.id, event: event.id).job() }, now: now, on: connection)
        return endpoints.count
    }

    /// Delivers again every event whose last attempt to `endpoint` since `since` failed for good.
    public static func replayFailed(endpoint: WebhookEndpoints.Endpoint, since: Int64, now: Int64, on connection: any SQLConnection) throws -> Int {
        let failed = try connection.query("""
            SELECT DISTINCT event_id FROM webhook_attempts WHERE endpoint_id = ? AND outcome = 'failed' AND at >= ?
            """, [.text(endpoint.id), .int(since)]).map { try $0.string("event_id") }
        try JobQueue.enqueue(failed.map { WebhookDeliveryJob(tenant: endpoint.tenant, endpoint: endpoint.id, event: $0).job() }, now: now, on: connection)
        return failed.count
    }
}

/// What became of each delivery attempt, per endpoint.
public enum WebhookAttempts {
    public struct Attempt: Sendable, Equatable {
        public let eventID: String
        public let attempt: Int64
        /// `delivered`, `retrying` or `failed` (the last attempt, given up).
        public let outcome: String
        public let status: Int64?
        public let latencyMilliseconds: Int64
        public let error: String?
        public let responseExcerpt: String
        public let at: Int64

        public init(eventID: String, attempt: Int64, outcome: String, status: Int64?, latencyMilliseconds: Int64, error: String?,
                    responseExcerpt: String, at: Int64) {
            self.eventID = eventID; self.attempt = attempt; self.outcome = outcome; self.status = status
            self.latencyMilliseconds = latencyMilliseconds; self.error = error; self.responseExcerpt = responseExcerpt; self.at = at
        }
    }

    public static func record(_ attempt: Attempt, tenant: String, endpoint: String, on connection: any SQLConnection) throws {
        try connection.execute("""
            INSERT INTO webhook_attempts (tenant_id, endpoint_id, event_id, attempt, outcome, status, latency_ms, error, response_excerpt, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(tenant), .text(endpoint), .text(attempt.eventID), .int(attempt.attempt), .text(attempt.outcome), SQLValue(attempt.status),
                  .int(attempt.latencyMilliseconds), SQLValue(attempt.error), .text(attempt.responseExcerpt), .int(attempt.at)])
    }

    /// The newest attempts to an endpoint first, at most `limit`.
    public static func list(endpoint: String, limit: Int, on connection: any SQLConnection) throws -> [Attempt] {
        try connection.query("""
            SELECT * FROM webhook_attempts WHERE endpoint_id = ? ORDER BY id DESC LIMIT ?
            """, [.text(endpoint), .int(Int64(limit))]).map { row in
            Attempt(eventID: try row.string("event_id"), attempt: try row.int("attempt"), outcome: try row.string("outcome"),
                    status: try row.optionalInt("status"), latencyMilliseconds: try row.int("latency_ms"), error: try row.optionalString("error"),
                    responseExcerpt: try row.string("response_excerpt"), at: try row.int("at"))
        }
    }
}
