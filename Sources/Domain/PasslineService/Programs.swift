import LoyaltyRules
import PasslineJSON
import PasslineSQL
import PasslineStore

/// A tenant's program per mode, versioned: a change is a new version effective from its time,
/// and whatever a version computed keeps naming it. A template may have a program of its own
/// (a clinic's premium card earning more than its standard one); its cards then follow that
/// one, whole, until it is removed.
public final class Programs: Sendable {
    let database: any SQLDatabase
    /// The versions in force and scheduled, per tenant, mode and program, for the transactions'
    /// hot path: kept `cacheMilliseconds`, dropped at once when this process changes the program.
    private let cache = BoundedCache<CacheKey, CachedVersions>(maxCount: 10_000, maxBytes: 64 << 20)
    struct CacheKey: Hashable, Sendable {
        let tenant: String
        let mode: CardMode
        /// "" for the tenant's own program.
        let template: String
    }
    struct CachedVersions: Sendable {
        let inForce: Stored?
        let scheduled: [Stored]
        let readAt: Int64
    }
    /// One stored version; `program` nil for a template's version that hands its cards back to
    /// the tenant's program.
    struct Stored: Sendable {
        let version: Int64
        let program: Program?
        let effectiveAt: Int64
        let changedBy: String?
        let createdAt: Int64
        let template: String?
    }
    /// How long another process's change to a program may take to reach this one's transactions.
    public static let cacheMilliseconds: Int64 = 5_000

    public init(database: any SQLDatabase) {
        self.database = database
    }

    /// One version of a program.
    public struct Version: Sendable, Equatable {
        public let version: Int64
        public let program: Program
        public let effectiveAt: Int64
        public let changedBy: String?
        public let createdAt: Int64
        /// The template whose own program this is; nil for the tenant's.
        public let template: String?
    }

    /// The program cards of `template` (nil: the tenant's) follow at `time`: the template's
    /// own when one is in force then, else the tenant's; nil when there is none.
    /// - Parameter wallNow: the real clock's now; a `time` equal to it (a card on the real
    ///   clock) is answered from the cache, any other (a test clock's) read for that time.
    public func inForce(tenant: String, mode: CardMode, template: String? = nil, at time: Int64, wallNow: Int64? = nil) async throws -> Version? {
        let cached = time == wallNow
        if let template, let own = try await stored(CacheKey(tenant: tenant, mode: mode, template: template), at: time, cached: cached) {
            if let version = Self.version(own) { return version }
        }
        return try await stored(CacheKey(tenant: tenant, mode: mode, template: ""), at: time, cached: cached).flatMap(Self.version)
    }

    private func stored(_ key: CacheKey, at time: Int64, cached useCache: Bool) async throws -> Stored? {
        guard useCache else {
            return try await database.withConnection { connection in
                try ProgramVersions.inForce(tenant: key.tenant, mode: key.mode, template: key.template, at: time, on: connection).map(Self.stored)
            }
        }
        let now = WallClock.milliseconds()
        let cached: CachedVersions
        if let hit = cache.value(for: key), now - hit.readAt < Self.cacheMilliseconds, hit.readAt <= time {
            cached = hit
        } else {
            let (inForce, scheduled) = try await read(key, now: now)
            cached = CachedVersions(inForce: inForce, scheduled: scheduled, readAt: now)
            cache.store(cached, for: key, bytes: 512)
        }
        return cached.scheduled.last { $0.effectiveAt <= time } ?? cached.inForce
    }

    private func read(_ key: CacheKey, now: Int64) async throws -> (Stored?, [Stored]) {
        try await database.withConnection { connection in
            (try ProgramVersions.inForce(tenant: key.tenant, mode: key.mode, template: key.template, at: now, on: connection).map(Self.stored),
             try ProgramVersions.scheduled(tenant: key.tenant, mode: key.mode, template: key.template, after: now, on: connection).map(Self.stored))
        }
    }

    /// What `GET /api/v1/program` shows: the program cards of `template` (nil: the tenant's)
    /// follow now, and the changes scheduled after it, of the template's own program while it
    /// has one in force or scheduled, else the tenant's.
    public func current(tenant: String, mode: CardMode, template: String? = nil,
                        now: Int64 = WallClock.milliseconds()) async throws -> (inForce: Version?, scheduled: [Version]) {
        if let template {
            let (own, ownScheduled) = try await read(CacheKey(tenant: tenant, mode: mode, template: template), now: now)
            let pending = ownScheduled.compactMap(Self.version)
            if let own, let version = Self.version(own) { return (version, pending) }
            let (tenantWide, scheduled) = try await read(CacheKey(tenant: tenant, mode: mode, template: ""), now: now)
            return (tenantWide.flatMap(Self.version), pending.isEmpty ? scheduled.compactMap(Self.version) : pending)
        }
        let (inForce, scheduled) = try await read(CacheKey(tenant: tenant, mode: mode, template: ""), now: now)
        return (inForce.flatMap(Self.version), scheduled.compactMap(Self.version))
    }

    /// Replaces the program (the tenant's, or `template`'s own) from `effectiveAt` (default
    /// now; a time in the past serves purchases posted later for what happened then, while
    /// every entry already written keeps the version it named). The document is checked whole.
    /// - Throws: `DomainError.invalid` naming every fault.
    public func change(tenant: String, mode: CardMode, template: String? = nil, document: JSONObject, actor: String?,
                       now: Int64 = WallClock.milliseconds()) async throws -> Version {
        var faults: [DomainError.Fault] = []
        let effectiveAt = Self.effectiveAt(document, now: now, faults: &faults)
        let program: Program
        do {
            program = try Program.parse(document)
            try DomainError.check(faults, "The program is not valid")
        } catch {
            throw DomainError(.invalid, error.message, faults: faults + error.faults)
        }
        let stored = try await add(tenant: tenant, mode: mode, template: template, rules: JSONWriter.string(.object(program.json)),
                                   effectiveAt: effectiveAt, actor: actor, now: now)
        return Version(version: stored.version, program: program, effectiveAt: stored.effectiveAt, changedBy: stored.actor, createdAt: stored.createdAt,
                       template: template)
    }

    /// Hands a template's cards back to the tenant's program from `now`: a version of its own
    /// saying so, so that entries made under the template's program keep naming it.
    /// - Throws: `DomainError.notFound` when the template has no program of its own in force.
    public func removeOverride(tenant: String, mode: CardMode, template: String, actor: String?, now: Int64 = WallClock.milliseconds()) async throws {
        let own = try await database.withConnection { connection in
            try ProgramVersions.inForce(tenant: tenant, mode: mode, template: template, at: now, on: connection)
        }
        guard let own, own.rules != ProgramVersions.inherit else {
            throw DomainError(.notFound, "The template has no program of its own in force; its cards follow the tenant's.")
        }
        _ = try await add(tenant: tenant, mode: mode, template: template, rules: ProgramVersions.inherit, effectiveAt: now, actor: actor, now: now)
    }

    private func add(tenant: String, mode: CardMode, template: String?, rules: String, effectiveAt: Int64, actor: String?,
                     now: Int64) async throws -> ProgramVersions.Version {
        let stored = try await database.transaction { connection in
            try ProgramVersions.add(tenant: tenant, mode: mode, template: template, rules: rules, effectiveAt: effectiveAt, actor: actor, now: now,
                                    on: connection)
        }
        cache.removeAll { $0.tenant == tenant && $0.mode == mode }
        return stored
    }

    static func effectiveAt(_ document: JSONObject, now: Int64, faults: inout [DomainError.Fault]) -> Int64 {
        switch document["effectiveAt"] {
        case nil, .null?: return now
        case .string(let text)?:
            if let time = Timestamp.parse(text) { return time }
            faults.append(.init("effectiveAt", "must be an RFC 3339 time such as 2027-01-01T00:00:00Z"))
        case let other?: faults.append(.init("effectiveAt", "must be an RFC 3339 time (a string), found \(other.typeName)"))
        }
        return now
    }

    static func stored(_ row: ProgramVersions.Version) throws -> Stored {
        var program: Program?
        if row.rules != ProgramVersions.inherit {
            program = try Program.parse(try JSONParser.parse(Array(row.rules.utf8)).objectValue ?? JSONObject())
        }
        return Stored(version: row.version, program: program, effectiveAt: row.effectiveAt, changedBy: row.actor, createdAt: row.createdAt,
                      template: row.template)
    }

    static func version(_ stored: Stored) -> Version? {
        stored.program.map { Version(version: stored.version, program: $0, effectiveAt: stored.effectiveAt, changedBy: stored.changedBy,
                                     createdAt: stored.createdAt, template: stored.template) }
    }
}
