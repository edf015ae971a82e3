import Logging
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineSQL
import PasslineStore
import ServiceLifecycle

/// A business's existing members, brought in from CSV: a dry run that lists every bad row and
/// stores the upload, then a job that issues a card for each good row, recording each one, so a
/// crash in the middle goes on where it stopped.
public final class MemberImports: Sendable {
    public typealias Import = MemberImportRows.Import
    let cards: Cards
    let jobs: JobQueue
    let logger: Logger

    public init(cards: Cards, jobs: JobQueue, logger: Logger) {
        self.cards = cards
        self.jobs = jobs
        self.logger = logger
    }

    public struct DryRun: Sendable {
        public let importID: String
        public let rows: Int
        public let faults: [MemberImport.Fault]
    }

    /// Checks an upload against the template and the members it already has, and keeps it.
    /// - Throws: `DomainError.invalid` when the text is not a member list, `.notFound` for an unknown template.
    public func check(tenant: String, mode: CardMode, template idOrName: String, csv: String, staffEmail: String,
                      now: Int64 = WallClock.milliseconds()) async throws -> DryRun {
        let (templateID, _, _) = try await cards.templates.load(tenant: tenant, mode: mode, idOrName: idOrName)
        let existing = try await cards.database.withConnection { try MemberImportRows.existingMembers(tenant: tenant, mode: mode, templateID: templateID, on: $0) }
        let checked = try MemberImport.check(csv, existing: existing)
        let id = "imp_" + SecureRandom.token(length: 16)
        try await cards.database.transaction { connection in
            try MemberImportRows.insert(id: id, tenant: tenant, mode: mode, templateID: templateID, staffEmail: staffEmail, csv: csv,
                                        total: Int64(checked.rows.count), faults: Int64(checked.faults.count), now: now, on: connection)
        }
        return DryRun(importID: id, rows: checked.rows.count, faults: checked.faults)
    }

    /// Starts issuing the cards of a checked upload.
    /// - Throws: `.notFound` (another tenant's alike), `.conflict` when it was started before.
    public func start(tenant: String, id: String, now: Int64 = WallClock.milliseconds()) async throws -> Import {
        let started = try await cards.database.transaction { connection in
            guard try MemberImportRows.get(tenant: tenant, id: id, on: connection) != nil else { throw DomainError(.notFound, "No import \(id).") }
            guard try MemberImportRows.start(tenant: tenant, id: id, now: now, on: connection) else {
                throw DomainError(.conflict, "Import \(id) was started already.")
            }
            return try MemberImportRows.get(tenant: tenant, id: id, on: connection)!
        }
        jobs.notifyCommitted()
        return started
    }

    public func status(tenant: String, id: String) async throws -> Import {
        guard let found = try await cards.database.withConnection({ try MemberImportRows.get(tenant: tenant, id: id, on: $0) }) else {
            throw DomainError(.notFound, "No import \(id).")
        }
        return found
    }

    /// The cards an import issued: member id, name and each card's page link, by line.
    public func issued(tenant: String, id: String) async throws -> [(line: Int64, card: Cards.Card?, error: String?)] {
        _ = try await status(tenant: tenant, id: id)
        let results = try await cards.database.withConnection { try MemberImportRows.results(id: id, on: $0) }
        var out: [(Int64, Cards.Card?, String?)] = []
        for result in results {
            out.append((result.line, try await result.serial.asyncMap { try await cards.get(tenant: tenant, mode: nil, serial: $0) }, result.error))
        }
        return out
    }

    // MARK: The job

    /// Runs import jobs until the task is cancelled (background work: requests go first).
    public func run() async {
        await SQLWorkPriority.$current.withValue(.background) {
            await WorkerLoop.run("member imports", jobs: jobs, logger: logger) { try await self.runOnce() }
        }
    }

    /// Claims one import job and issues its cards. - Returns: the cards it issued.
    @discardableResult
    public func runOnce() async throws -> Int {
        guard let job = try await jobs.claim(limit: 1, kinds: [MemberImportRows.jobKind], leaseMilliseconds: 60_000).first else { return 0 }
        guard let id = (try? JSONParser.parse(job.payload))?["import"]?.stringValue,
              let (tenant, csv) = try await cards.database.withConnection({ try MemberImportRows.csv(id: id, on: $0) }),
              let record = try await cards.database.withConnection({ try MemberImportRows.get(tenant: tenant, id: id, on: $0) }) else {
            try await jobs.fail(job, error: "no such import", retry: false)
            return 0
        }
        let done = try await cards.database.withConnection { try MemberImportRows.lines(id: id, on: $0) }
        // Checked again against the members of now: one added since the dry run is not doubled.
        let existing = try await cards.database.withConnection {
            try MemberImportRows.existingMembers(tenant: tenant, mode: record.mode, templateID: record.templateID, on: $0)
        }
        let rows: [MemberImport.Row]
        do { rows = try MemberImport.check(csv, existing: []).rows } catch {
            try await cards.database.withConnection { try MemberImportRows.finish(id: id, error: "\(error)", now: WallClock.milliseconds(), on: $0) }
            try await jobs.complete(job)
            return 0
        }
        var issued = 0
        for row in rows where !done.contains(Int64(row.line)) {
            if WorkerLoop.isStopping {
                try await jobs.release(job, afterMilliseconds: 0)
                return issued
            }
            var serial: String?, failure: String?
            if existing.contains(row.memberID) {
                failure = "member \(row.memberID) has a card already"
            } else {
                do {
                    let fields = JSONObject(row.fields.map { ($0.0, JSONValue.string($0.1)) })
                    serial = try await cards.create(tenant: tenant, mode: record.mode, .init(template: record.templateID, memberID: row.memberID,
                                                                                            memberName: row.memberName, points: row.points, fields: fields)).serialNumber
                    issued += 1
                } catch let error as DomainError {
                    failure = error.message
                } catch {
                    failure = "\(error)"
                }
            }
            let (line, made, problem) = (Int64(row.line), serial, failure)
            try await cards.database.withConnection { try MemberImportRows.record(id: id, line: line, serial: made, error: problem, on: $0) }
            if issued % 200 == 0 { try await jobs.extendLease(job, milliseconds: 60_000) }
        }
        try await cards.database.withConnection { try MemberImportRows.finish(id: id, now: WallClock.milliseconds(), on: $0) }
        try await jobs.complete(job)
        logger.info("member import finished", metadata: ["tenant.id": .string(tenant), "import.id": .string(id), "import.issued": .stringConvertible(issued)])
        return issued
    }
}

extension MemberImports: Service {}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

extension MemberImportRows.Import {
    /// Whether its cards are all issued (or refused).
    public var isFinished: Bool { state == "finished" }
}
