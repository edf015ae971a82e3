import LoyaltyRules
import PasslineJSON
import PasslineSQL
import PasslineStore

/// A tenant's program per mode, versioned: a change is a new version effective from its time,
/// and whatever a version computed keeps naming it.
public final class Programs: Sendable {
    let database: any SQLDatabase
    /// The versions in force and scheduled, per tenant and mode, for the transactions' hot path:
    /// kept `cacheMilliseconds`, dropped at once when this process changes the program.
    private let cache = BoundedCache<CacheKey, CachedVersions>(maxCount: 10_000, maxBytes: 64 << 20)
    struct CacheKey: Hashable, Sendable {
        let tenant: String
        let mode: CardMode
    }
    struct CachedVersions: Sendable {
        let inForce: Version?
        let scheduled: [Version]
        let readAt: Int64
    }
    /// How long another process's change to a program may take to reach this one's transactions.
    public static let cacheMilliseconds: Int64 = 5_000

    public init(database: any SQLDatabase) {
        self.database = database
    }

    /// The version in force at `time` (close to now), from a cache at most `cacheMilliseconds` old.
    public func inForceCached(tenant: String, mode: CardMode, at time: Int64) async throws -> Version? {
        let key = CacheKey(tenant: tenant, mode: mode)
        let now = WallClock.milliseconds()
        let cached: CachedVersions
        if let hit = cache.value(for: key), now - hit.readAt < Self.cacheMilliseconds, hit.readAt <= time {
            cached = hit
        } else {
            let (inForce, scheduled) = try await current(tenant: tenant, mode: mode, now: now)
            cached = CachedVersions(inForce: inForce, scheduled: scheduled, readAt: now)
            cache.store(cached, for: key, bytes: 512)
        }
        return cached.scheduled.last { $0.effectiveAt <= time } ?? cached.inForce
    }

    /// The version in force at a card's time: from the cache when that is the real clock's
    /// `wallNow`, read for that time when the card lives on a test clock.
    public func inForce(tenant: String, mode: CardMode, at time: Int64, wallNow: Int64) async throws -> Version? {
        time == wallNow ? try await inForceCached(tenant: tenant, mode: mode, at: time) : try await inForce(tenant: tenant, mode: mode, at: time)
    }

    /// One version of the program.
    public struct Version: Sendable, Equatable {
        public let version: Int64
        public let program: Program
        public let effectiveAt: Int64
        public let changedBy: String?
        public let createdAt: Int64
    }

    /// The version in force at `time`, or nil when the tenant has no program yet.
    public func inForce(tenant: String, mode: CardMode, at time: Int64) async throws -> Version? {
        try await database.withConnection { connection in
            try ProgramVersions.inForce(tenant: tenant, mode: mode, at: time, on: connection).map(Self.version)
        }
    }

    /// The version in force now and the changes scheduled after it.
    public func current(tenant: String, mode: CardMode, now: Int64 = WallClock.milliseconds()) async throws -> (inForce: Version?, scheduled: [Version]) {
        try await database.withConnection { connection in
            (try ProgramVersions.inForce(tenant: tenant, mode: mode, at: now, on: connection).map(Self.version),
             try ProgramVersions.scheduled(tenant: tenant, mode: mode, after: now, on: connection).map(Self.version))
        }
    }

    /// Replaces the program from `effectiveAt` (default now; a time in the past serves purchases
    /// posted later for what happened then, while every entry already written keeps the
    /// version it named). The document is checked whole.
    /// - Throws: `DomainError.invalid` naming every fault.
    public func change(tenant: String, mode: CardMode, document: JSONObject, actor: String?, now: Int64 = WallClock.milliseconds()) async throws -> Version {
        var faults: [DomainError.Fault] = []
        var effectiveAt = now
        switch document["effectiveAt"] {
        case nil, .null?: break
        case .string(let text)?:
            if let time = Timestamp.parse(text) {
                effectiveAt = time
            } else {
                faults.append(.init("effectiveAt", "must be an RFC 3339 time such as 2027-01-01T00:00:00Z"))
            }
        case let other?: faults.append(.init("effectiveAt", "must be an RFC 3339 time (a string), found \(other.typeName)"))
        }
        let program: Program
        do {
            program = try Program.parse(document)
            try DomainError.check(faults, "The program is not valid")
        } catch {
            throw DomainError(.invalid, error.message, faults: faults + error.faults)
        }
        let rules = JSONWriter.string(.object(program.json))
        let from = effectiveAt
        let stored = try await database.transaction { connection in
            try ProgramVersions.add(tenant: tenant, mode: mode, rules: rules, effectiveAt: from, actor: actor, now: now, on: connection)
        }
        cache.removeAll { $0 == CacheKey(tenant: tenant, mode: mode) }
        return Version(version: stored.version, program: program, effectiveAt: stored.effectiveAt, changedBy: stored.actor, createdAt: stored.createdAt)
    }

    static func version(_ stored: ProgramVersions.Version) throws -> Version {
        let object = try JSONParser.parse(Array(stored.rules.utf8)).objectValue ?? JSONObject()
        return Version(version: stored.version, program: try Program.parse(object), effectiveAt: stored.effectiveAt,
                       changedBy: stored.actor, createdAt: stored.createdAt)
    }
}
