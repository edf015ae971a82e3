import LoyaltyRules
import PasslineJSON
import PasslineSQL

/// What keeps Google Wallet objects in step with cards: one `google.sync` job per changed card
/// (coalesced, so a burst of changes is one PATCH of the newest state), and what was last sent.
public enum GoogleSync {
    public static let jobKind = GoogleSyncJob.kind

    /// Enqueues a sync of the card when its tenant has Google Wallet set up, in the caller's
    /// transaction. Test-mode cards stay off Google, as they stay off APNs. Returns the jobs enqueued.
    @discardableResult
    public static func enqueue(tenant: String, serial: String, mode: CardMode, priority: JobPriority = .interactive, now: Int64, on connection: any SQLConnection) throws -> Int {
        try enqueue(tenant: tenant, serials: [serial], mode: mode, priority: priority, now: now, on: connection)
    }

    /// The same for many cards of one tenant (a campaign step): one look at the settings, one insert.
    @discardableResult
    public static func enqueue(tenant: String, serials: [String], mode: CardMode, priority: JobPriority = .interactive, now: Int64, on connection: any SQLConnection) throws -> Int {
        guard mode == .live, !serials.isEmpty,
              try connection.first("SELECT 1 AS one FROM google_issuers WHERE tenant_id = ?", [.text(tenant)]) != nil else { return 0 }
        try JobQueue.enqueue(serials.map { job(tenant: tenant, serial: $0, priority: priority) }, now: now, on: connection)
        return serials.count
    }

    static func job(tenant: String, serial: String, priority: JobPriority) -> NewJob {
        // Google's own retries are cheap next to a lost update: a day of attempts with backoff.
        return NewJob(kind: jobKind, tenant: tenant, payload: GoogleSyncJob(tenant: tenant, serial: serial).payload, priority: priority, maxAttempts: 20,
                      coalesceKey: "google:\(tenant):\(serial)")
    }

    /// A sync for every live card of the tenant (after Google is set up or its settings change).
    public static func enqueueAll(tenant: String, now: Int64, on connection: any SQLConnection) throws -> Int {
        let serials = try connection.query("SELECT serial_number FROM cards WHERE tenant_id = ? AND mode = 'live' ORDER BY serial_number", [.text(tenant)])
            .map { try $0.string("serial_number") }
        try JobQueue.enqueue(serials.map { job(tenant: tenant, serial: $0, priority: .bulk) }, now: now, on: connection)
        return serials.count
    }

    /// What was last sent for a card: to tell an insert from a patch, and which changes notify.
    public struct ObjectState: Sendable, Equatable {
        public var objectID: String
        public var version: Int64
        public var points: Int64
        public var tier: String
        public var message: String
        /// The words of the card's soonest expiry (`CardLook.expiringKey`) last sent as a message.
        public var notice: String
        /// When update notifications went out (milliseconds), newest last; Google allows three a day.
        public var notifiedAt: [Int64]
        public init(objectID: String, version: Int64, points: Int64, tier: String, message: String, notice: String = "", notifiedAt: [Int64]) {
            self.objectID = objectID; self.version = version; self.points = points; self.tier = tier; self.message = message; self.notice = notice
            self.notifiedAt = notifiedAt
        }
    }

    public static func objectState(tenant: String, serial: String, on connection: any SQLConnection) throws -> ObjectState? {
        guard let row = try connection.first("SELECT * FROM google_objects WHERE tenant_id = ? AND serial_number = ?", [.text(tenant), .text(serial)]) else {
            return nil
        }
        return ObjectState(objectID: try row.string("object_id"), version: try row.int("synced_version"), points: try row.int("synced_points"),
                           tier: try row.string("synced_tier"), message: try row.string("synced_message"), notice: try row.string("synced_notice"),
                           notifiedAt: try row.string("notified_at").split(separator: ",").compactMap { Int64($0) })
    }

    /// Records what was sent; an older version never overwrites a newer one. The notification
    /// times are not written here: only `reserveNotification` moves them, so that two syncs
    /// cannot each spend the same slot.
    public static func saveObjectState(_ state: ObjectState, tenant: String, serial: String, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("""
            INSERT INTO google_objects (tenant_id, serial_number, object_id, synced_version, synced_points, synced_tier, synced_message, synced_notice,
                                        notified_at, synced_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?)
            ON CONFLICT (tenant_id, serial_number) DO UPDATE SET
                object_id = excluded.object_id, synced_version = excluded.synced_version, synced_points = excluded.synced_points,
                synced_tier = excluded.synced_tier, synced_message = excluded.synced_message, synced_notice = excluded.synced_notice,
                synced_at = excluded.synced_at
            WHERE google_objects.synced_version <= excluded.synced_version
            """, [.text(tenant), .text(serial), .text(state.objectID), .int(state.version), .int(state.points), .text(state.tier),
                  .text(state.message), .text(state.notice), .int(now)])
    }

    /// Takes a notification slot before the notifying update is sent: `notified_at` moves from
    /// what this sync read to `notifiedAt`, or nothing happens when another sync moved it first.
    /// A slot taken by an update that then fails stays taken: the limit is never passed.
    public static func reserveNotification(tenant: String, serial: String, read previous: [Int64], notifiedAt: [Int64],
                                           on connection: any SQLConnection) throws -> Bool {
        try connection.execute("UPDATE google_objects SET notified_at = ? WHERE tenant_id = ? AND serial_number = ? AND notified_at = ?",
                               [.text(notifiedAt.map(String.init).joined(separator: ",")), .text(tenant), .text(serial),
                                .text(previous.map(String.init).joined(separator: ","))]) == 1
    }

    /// The hash of the class last sent for a template, to send it again only when it changed.
    public static func classHash(tenant: String, template: String, on connection: any SQLConnection) throws -> String? {
        try connection.first("SELECT content_hash FROM google_classes WHERE tenant_id = ? AND template_id = ?", [.text(tenant), .text(template)])
            .map { try $0.string("content_hash") }
    }

    public static func saveClass(tenant: String, template: String, classID: String, hash: String, now: Int64, on connection: any SQLConnection) throws {
        try connection.execute("""
            INSERT INTO google_classes (tenant_id, template_id, class_id, content_hash, synced_at) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, template_id) DO UPDATE SET class_id = excluded.class_id, content_hash = excluded.content_hash, synced_at = excluded.synced_at
            """, [.text(tenant), .text(template), .text(classID), .text(hash), .int(now)])
    }

    /// Forgets what was sent for the tenant: after its issuer changes, everything goes again.
    public static func forget(tenant: String, on connection: any SQLConnection) throws {
        try connection.execute("DELETE FROM google_objects WHERE tenant_id = ?", [.text(tenant)])
        try connection.execute("DELETE FROM google_classes WHERE tenant_id = ?", [.text(tenant)])
    }
}
