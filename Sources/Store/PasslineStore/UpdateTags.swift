import LoyaltyRules
import PasslineSQL

/// Update tags: numbers from the store, per tenant, that follow commit order.
///
/// A plain sequence is not enough: values are handed out when taken, not when the transaction
/// commits, so tag 6 can be visible while tag 5 is still uncommitted, and a device told
/// "lastUpdated 6" would never hear of 5. Here every change increments its tenant's counter
/// row as its last step before commit. The row stays locked until the commit, so the next
/// change of that tenant waits, then takes a higher tag and commits after it: once a tag is
/// visible, every lower tag of the tenant is too.
///
/// Rule for callers: lock (update) the rows a change touches first and take the tag last, so
/// a transaction holding the counter never waits for a card lock.
public enum UpdateTags {
    /// Creates the tenant's counter; call once when the tenant is created.
    public static func create(tenant: String, on connection: any SQLConnection) throws {
        try connection.execute("INSERT INTO update_tags (tenant_id, last_tag) VALUES (?, 0)", [.text(tenant)])
    }

    /// Takes `count` new tags for the tenant and returns the highest; the range is
    /// `(highest - count + 1)...highest`. Hold the transaction open as briefly as possible after it.
    /// - Throws: `DomainError.notFound` when the tenant has no counter.
    public static func next(tenant: String, count: Int = 1, on connection: any SQLConnection) throws -> Int64 {
        let row = try connection.first("UPDATE update_tags SET last_tag = last_tag + ? WHERE tenant_id = ? RETURNING last_tag",
                                       [.int(Int64(count)), .text(tenant)])
        guard let row else { throw DomainError(.notFound, "Tenant \(tenant) does not exist.") }
        return try row.int("last_tag")
    }
}

extension UpdateTags {
    /// Takes the tenant's next tag and writes it to the card: the last statement of a change
    /// before COMMIT, since the tenant's counter stays locked from here to the commit. On
    /// PostgreSQL it is one statement (a data-modifying CTE), so the locked window is that
    /// statement and the COMMIT; SQLite has one writer, so two statements cost nothing there.
    /// - Returns: the card's new tag.
    /// - Throws: `DomainError.notFound` when the tenant or the card does not exist.
    public static func stamp(tenant: String, serial: String, on connection: any SQLConnection) throws -> Int64 {
        let dialect = connection.dialect
        if dialect == .postgres {
            guard let row = try connection.first("""
                WITH tag AS (UPDATE update_tags SET last_tag = last_tag + 1 WHERE tenant_id = ? RETURNING last_tag)
                UPDATE cards SET update_tag = tag.last_tag FROM tag WHERE cards.tenant_id = ? AND cards.serial_number = ?
                RETURNING cards.update_tag AS update_tag
                """, [.text(tenant), .text(tenant), .text(serial)]) else {
                throw DomainError(.notFound, "Card \(serial) of tenant \(tenant) does not exist.")
            }
            return try row.int("update_tag")
        }
        return try stampEach(tenant: tenant, serials: [serial], on: connection)
    }

    /// The two statements of a stamp, for a store with one writer (SQLite): the next tag, then
    /// every card given. Returns the tag.
    private static func stampEach(tenant: String, serials: [String], on connection: any SQLConnection) throws -> Int64 {
        let tag = try next(tenant: tenant, on: connection)
        let changed = try connection.execute("""
            UPDATE cards SET update_tag = ? WHERE tenant_id = ? AND serial_number IN (\(Array(repeating: "?", count: serials.count).joined(separator: ", ")))
            """, [.int(tag), .text(tenant)] + serials.map(SQLValue.text))
        guard changed == Set(serials).count else { throw missingCards(tenant: tenant, serials) }
        return tag
    }

    private static func missingCards(tenant: String, _ serials: [String]) -> DomainError {
        DomainError(.notFound, serials.count == 1 ? "Card \(serials[0]) of tenant \(tenant) does not exist."
                                                 : "A card of the \(Set(serials).count) given of tenant \(tenant) does not exist.")
    }
}

extension UpdateTags {
    /// `stamp`, sent together with the COMMIT that ends the caller's transaction, on
    /// PostgreSQL. SQLite has one writer and no round trip to save: there it is `stamp` alone,
    /// and the transaction's own COMMIT follows.
    ///
    /// The COMMIT goes before the answer is read, so a missing card or tenant cannot be
    /// refused afterwards: the statement itself fails then (a division by the zero rows it
    /// stamped), which aborts the COMMIT and rolls everything back.
    /// - Throws: `DomainError.notFound` when the tenant or the card does not exist.
    public static func stampThenCommit(tenant: String, serial: String, on connection: any SQLConnection) throws {
        try stampThenCommit(tenant: tenant, serials: [serial], on: connection)
    }

    /// The same for several cards of the tenant, which all get the one new tag.
    public static func stampThenCommit(tenant: String, serials: [String], on connection: any SQLConnection) throws {
        let dialect = connection.dialect
        guard dialect == .postgres else {
            _ = try stampEach(tenant: tenant, serials: serials, on: connection)
            return
        }
        do {
            _ = try connection.queryThenCommit("""
                WITH tag AS (UPDATE update_tags SET last_tag = last_tag + 1 WHERE tenant_id = ? RETURNING last_tag),
                     stamped AS (UPDATE cards SET update_tag = tag.last_tag FROM tag
                                 WHERE cards.tenant_id = ? AND cards.serial_number = ANY(?::text[]) RETURNING 1)
                SELECT 1 / (CASE WHEN (SELECT count(*) FROM stamped) = ? THEN 1 ELSE 0 END) AS stamped
                """, [.text(tenant), .text(tenant), .text(ArrayLiteral.texts(serials)), .int(Int64(Set(serials).count))])
        } catch let error as SQLError where error.message.contains("SQLSTATE 22012") {
            throw missingCards(tenant: tenant, serials)
        }
    }
}

/// What a device is told when it asks which of its passes changed.
public struct UpdatedSerials: Sendable, Equatable {
    public let serialNumbers: [String]
    /// The tag to ask with next time: the tenant's highest committed tag when the answer was read.
    public let lastUpdated: Int64
}

/// Apple's "which of my passes changed since this tag", as SQL: one device's poll, or many at
/// once (`DevicePolls` batches them).
public enum DevicePollQuery {
    /// The serials registered by a device for a pass type whose tag is above `since`, with the
    /// tag to ask with next time, read in one statement so that both come from one snapshot.
    /// Nil when nothing matches (the web service answers 204).
    public static func serialsUpdated(tenant: String, device: String, passType: String, since: Int64?, on connection: any SQLConnection) throws -> UpdatedSerials? {
        let rows = try connection.query("""
            SELECT c.serial_number AS serial_number,
                   (SELECT last_tag FROM update_tags WHERE tenant_id = ?) AS last_tag
            FROM registrations r
            JOIN cards c ON c.tenant_id = r.tenant_id AND c.serial_number = r.serial_number
            WHERE r.tenant_id = ? AND r.device_library_id = ? AND r.pass_type_identifier = ? AND c.update_tag > ?
            ORDER BY c.serial_number
            """, [.text(tenant), .text(tenant), .text(device), .text(passType), .int(since ?? -1)])
        guard let first = rows.first else { return nil }
        return UpdatedSerials(serialNumbers: try rows.map { try $0.string("serial_number") }, lastUpdated: try first.int("last_tag"))
    }

    /// One device's question: which of its passes of a type changed since a tag.
    public struct Poll: Sendable, Hashable {
        public let tenant: String
        public let device: String
        public let passType: String
        public let since: Int64?
        public init(tenant: String, device: String, passType: String, since: Int64?) {
            self.tenant = tenant
            self.device = device
            self.passType = passType
            self.since = since
        }
    }

    /// The answers to many polls, in their order, each as `serialsUpdated` gives it.
    ///
    /// On PostgreSQL they are read in one statement over arrays of the polls, so that the
    /// server's per-statement work (a round trip, executor start-up, a snapshot) is paid once
    /// for the lot; each answer still comes from that one snapshot, so its `lastUpdated` never
    /// runs ahead of its serials. SQLite is in process and has no such cost: one query a poll.
    public static func serialsUpdated(_ polls: [Poll], on connection: any SQLConnection) throws -> [UpdatedSerials?] {
        let dialect = connection.dialect
        // No stored id holds a NUL (the store refuses them), so such a poll matches nothing. Left
        // out here, it can neither break the array literal the other polls share nor reach
        // libpq, which would cut the id short at the NUL and match another device.
        let asked = polls.indices.filter { index in
            let poll = polls[index]
            return !(poll.tenant.utf8.contains(0) || poll.device.utf8.contains(0) || poll.passType.utf8.contains(0))
        }
        var answers = [UpdatedSerials?](repeating: nil, count: polls.count)
        guard !asked.isEmpty else { return answers }
        guard dialect == .postgres, asked.count > 1 else {
            for index in asked {
                let poll = polls[index]
                answers[index] = try serialsUpdated(tenant: poll.tenant, device: poll.device, passType: poll.passType, since: poll.since, on: connection)
            }
            return answers
        }
        let rows = try connection.query("""
            SELECT q.i AS i, c.serial_number AS serial_number, COALESCE(t.last_tag, 0) AS last_tag
            FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[]) AS q(tenant_id, device, pass_type, since, i)
            JOIN registrations r ON r.tenant_id = q.tenant_id AND r.device_library_id = q.device AND r.pass_type_identifier = q.pass_type
            JOIN cards c ON c.tenant_id = r.tenant_id AND c.serial_number = r.serial_number AND c.update_tag > q.since
            LEFT JOIN update_tags t ON t.tenant_id = q.tenant_id
            ORDER BY q.i, c.serial_number
            """, [
                .text(ArrayLiteral.texts(asked.map { polls[$0].tenant })),
                .text(ArrayLiteral.texts(asked.map { polls[$0].device })),
                .text(ArrayLiteral.texts(asked.map { polls[$0].passType })),
                .text(ArrayLiteral.integers(asked.map { polls[$0].since ?? -1 })),
                .text(ArrayLiteral.integers(asked.map { Int64($0) })),
            ])
        var serials: [Int: [String]] = [:]
        var tags: [Int: Int64] = [:]
        for row in rows {
            let index = Int(try row.int("i"))
            serials[index, default: []].append(try row.string("serial_number"))
            tags[index] = try row.int("last_tag")
        }
        for (index, numbers) in serials {
            guard polls.indices.contains(index), let tag = tags[index] else { continue }
            answers[index] = UpdatedSerials(serialNumbers: numbers, lastUpdated: tag)
        }
        return answers
    }
}
