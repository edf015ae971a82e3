import LoyaltyRules
import PasslineJSON
import PasslineSQL

// What each kind of job carries: one kind constant, one encoder and one decoder a kind, so the
// module that enqueues and the one that works a job cannot drift apart.

/// A job's payload that its worker cannot read: a bug or a hand-edited row, never retried.
public struct JobPayloadError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ kind: String, expected: String, payload: String) {
        description = "the \(kind) job's payload is not \(expected): \(payload.prefix(200))"
    }
}

/// One push to one device token for one pass type: what a change to a card enqueues for each
/// of its devices, and what the push worker sends.
public struct PushJob: Sendable, Equatable {
    public static let kind = "apns.push"
    public var tenant: String
    public var pushToken: String
    public var passType: String
    /// A test card's push is recorded as sent and never reaches APNs.
    public var mode: CardMode
    /// The campaign that caused it, for its delivery figures.
    public var campaign: String?

    public init(tenant: String, pushToken: String, passType: String, mode: CardMode = .live, campaign: String? = nil) {
        self.tenant = tenant; self.pushToken = pushToken; self.passType = passType; self.mode = mode; self.campaign = campaign
    }

    public var payload: String {
        var object = JSONObject([("tenant", .string(tenant)), ("pushToken", .string(pushToken)), ("passType", .string(passType))])
        if mode == .test { object["mode"] = .string(mode.rawValue) }
        if let campaign { object["campaign"] = .string(campaign) }
        return JSONWriter.string(.object(object))
    }

    /// - Throws: `JobPayloadError` when the payload is not one this type wrote.
    public init(payload: String) throws {
        guard case .object(let object)? = try? JSONParser.parse(Array(payload.utf8)),
              let tenant = object["tenant"]?.stringValue, let token = object["pushToken"]?.stringValue,
              let passType = object["passType"]?.stringValue,
              let mode = CardMode(rawValue: object["mode"]?.stringValue ?? CardMode.live.rawValue) else {
            throw JobPayloadError(Self.kind, expected: "{tenant, pushToken, passType, mode?, campaign?}", payload: payload)
        }
        self.init(tenant: tenant, pushToken: token, passType: passType, mode: mode, campaign: object["campaign"]?.stringValue)
    }

    /// Jobs for the same token, pass type and mode coalesce: a device fetches the newest state
    /// once, however many changes came before it was told.
    static func coalesceKeySQL(tenantParameter: String, token: String, passType: String, mode: CardMode) -> String {
        "'apns:' || \(tenantParameter) || ':' || \(token) || ':' || \(passType)\(mode == .test ? " || ':test'" : "")"
    }

    /// The same payload as `payload`, built by the store inside one INSERT … SELECT over the
    /// devices (a fan-out to 100,000 devices does not pass each job through Swift). Push tokens
    /// come from devices and may hold anything, so every value goes through the store's own
    /// JSON quoting. A test holds it to `payload` and `init(payload:)`.
    static func payloadSQL(tenant: String, token: String, passType: String, mode: CardMode, campaign: String?,
                           dialect: SQLDialect) -> (sql: String, binds: [SQLValue]) {
        var sql = "'{\"tenant\":' || \(dialect.jsonString("?")) || ',\"pushToken\":' || \(dialect.jsonString(token))"
            + " || ',\"passType\":' || \(dialect.jsonString(passType))"
        var binds: [SQLValue] = [.text(tenant)]
        if mode == .test { sql += " || ',\"mode\":\"test\"'" }
        if let campaign {
            sql += " || ',\"campaign\":' || \(dialect.jsonString("?"))"
            binds.append(.text(campaign))
        }
        return (sql + " || '}'", binds)
    }
}

/// One campaign's run through its cards, in steps; a crash resumes it where it stopped.
public struct CampaignJob: Sendable, Equatable {
    public static let kind = "campaign.run"
    public var campaign: String

    public init(campaign: String) { self.campaign = campaign }

    public var payload: String { JSONWriter.string(.object(JSONObject([("campaign", .string(campaign))]))) }

    public init(payload: String) throws {
        guard let id = (try? JSONParser.parse(Array(payload.utf8)))?["campaign"]?.stringValue else {
            throw JobPayloadError(Self.kind, expected: "{campaign}", payload: payload)
        }
        campaign = id
    }
}

/// One card's Google Wallet object brought to the card's newest state.
public struct GoogleSyncJob: Sendable, Equatable {
    public static let kind = "google.sync"
    public var tenant: String
    public var serial: String

    public init(tenant: String, serial: String) { self.tenant = tenant; self.serial = serial }

    public var payload: String { JSONWriter.string(.object(JSONObject([("tenant", .string(tenant)), ("serial", .string(serial))]))) }

    public init(payload: String) throws {
        guard case .object(let object)? = try? JSONParser.parse(Array(payload.utf8)),
              let tenant = object["tenant"]?.stringValue, let serial = object["serial"]?.stringValue else {
            throw JobPayloadError(Self.kind, expected: "{tenant, serial}", payload: payload)
        }
        self.init(tenant: tenant, serial: serial)
    }
}
