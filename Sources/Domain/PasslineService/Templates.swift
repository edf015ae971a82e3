import ApplePass
import Foundation
import LoyaltyRules
import PasslineCrypto
import PasslineJSON
import PasslineSQL
import PasslineStore
import Synchronization

/// A tenant's pass templates: validated on upload, stored file by file, loaded (and compiled)
/// once per process.
public final class Templates: Sendable {
    public let database: any SQLDatabase
    public let quotas: Quotas
    /// Compiled templates by id (ids are unique across tenants; a template never changes once
    /// stored), bounded by their bytes so that many tenants' large templates cannot fill memory.
    private let loaded: BoundedCache<String, PassTemplate>

    /// What one tenant may store: every template is compiled and kept in memory while in use.
    public struct Quotas: Sendable {
        public var maxTemplates = 100
        public var maxBytes = 64 << 20
        public init() {}
    }

    public init(database: any SQLDatabase, quotas: Quotas = Quotas(), cacheBytes: Int = 128 << 20) {
        self.database = database
        self.quotas = quotas
        self.loaded = BoundedCache(maxCount: 1_000, maxBytes: cacheBytes)
    }

    /// A stored template's description, as the partner API shows it.
    public struct Summary: Sendable, Equatable {
        public let id: String
        public let name: String
        public let style: String
        public let placeholders: [String]
        public let warnings: [String]
        public let createdAt: Int64
    }

    /// Validates and stores a template uploaded as a zip.
    /// - Throws: `PassError.invalidTemplate` listing every fault, `DomainError.conflict` when the name exists.
    public func create(tenant: String, mode: CardMode? = nil, name: String, zip: [UInt8], now: Int64 = WallClock.milliseconds()) async throws -> Summary {
        try await create(tenant: tenant, mode: mode, name: name, files: try PassTemplate.files(fromZip: zip), now: now)
    }

    /// Validates and stores a template given file by file (path → bytes), as the zip or JSON upload delivers it.
    /// - Throws: `PassError.invalidTemplate` listing every fault, `DomainError.conflict` when the name exists.
    /// - Parameter mode: the mode whose keys alone see it (`live`, `test`), or nil for both.
    public func create(tenant: String, mode: CardMode? = nil, name: String, files given: [String: [UInt8]], now: Int64 = WallClock.milliseconds()) async throws -> Summary {
        guard !name.isEmpty, name.count <= 100, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw DomainError(.invalid, "name must be 1 to 100 letters, digits, '-', '_' or '.', found \"\(name)\".")
        }
        // Path tricks are refused before hidden files are dropped: ".." starts with a dot too.
        for path in given.keys.sorted() {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            if parts.contains("..") || parts.contains(".") || parts.contains("") || path.contains("\\") {
                throw DomainError(.invalid, "The file name \(path) points outside the template; use paths such as icon.png or en.lproj/pass.strings.")
            }
        }
        // The zip reader holds uploads to these limits; a JSON upload, file by file, to the same.
        let limits = PassTemplate.limits
        guard given.count <= limits.maxEntries else {
            throw DomainError(.invalid, "The template has \(given.count) files; at most \(limits.maxEntries) are allowed.")
        }
        let size = given.values.reduce(0) { $0 + $1.count }
        guard size <= limits.maxTotalSize else {
            throw DomainError(.invalid, "The template's files are \(size.formatted()) bytes together; at most \(limits.maxTotalSize.formatted()) are allowed.")
        }
        let files = given.filter { !$0.key.split(separator: "/").contains { $0.hasPrefix(".") || $0 == "__MACOSX" } }
        let template = try PassTemplate(name: name, files: files)
        let id = "tpl_" + SecureRandom.token(length: 16)
        let assets = files.filter { $0.key != "pass.json" }, passJSON = files["pass.json"]!
        let bytes = files.values.reduce(0) { $0 + $1.count }, quotas = self.quotas
        let length = database.dialect == .postgres ? "octet_length" : "length"
        try await database.transaction { connection in
            let used = try connection.first("""
                SELECT (SELECT COUNT(*) FROM templates WHERE tenant_id = ?) AS n,
                       (SELECT CAST(COALESCE(SUM(\(length)(pass_json)), 0) AS BIGINT) FROM templates WHERE tenant_id = ?)
                     + (SELECT CAST(COALESCE(SUM(\(length)(a.content)), 0) AS BIGINT) FROM template_assets a JOIN templates t ON t.id = a.template_id WHERE t.tenant_id = ?) AS bytes
                """, [.text(tenant), .text(tenant), .text(tenant)])
            let count = Int(try used?.int("n") ?? 0), stored = Int(try used?.int("bytes") ?? 0)
            guard count < quotas.maxTemplates else {
                throw DomainError(.quotaExceeded, "The tenant has \(count) templates, its limit of \(quotas.maxTemplates).")
            }
            guard stored + bytes <= quotas.maxBytes else {
                throw DomainError(.quotaExceeded, "The tenant's templates would be \((stored + bytes).formatted()) bytes together, over its limit of \(quotas.maxBytes.formatted()).")
            }
            try TemplateRows.create(id: id, tenant: tenant, name: name, passJSON: passJSON, mode: mode, now: now, on: connection)
            for (path, bytes) in assets {
                try connection.execute("INSERT INTO template_assets (template_id, path, content) VALUES (?, ?, ?)", [.text(id), .text(path), .blob(bytes)])
            }
        }
        loaded.store(template, for: id, bytes: bytes)
        return Self.summary(id: id, template: template, createdAt: now)
    }

    /// The tenant's templates that a key of `mode` sees (nil: all), oldest first.
    public func list(tenant: String, mode: CardMode? = nil) async throws -> [Summary] {
        let ids = try await database.withConnection { connection in
            try connection.query("SELECT id FROM templates WHERE tenant_id = ?\(Self.modeClause(mode)) ORDER BY created_at, id",
                                 [.text(tenant)] + Self.modeBinds(mode)).map { try $0.string("id") }
        }
        var result: [Summary] = []
        for id in ids {
            do {
                result.append(try await summary(tenant: tenant, idOrName: id))
            } catch let error as PassError {
                // A template stored under older rules still shows up, saying why it no longer loads.
                let row = try await database.withConnection { try $0.first("SELECT name, created_at FROM templates WHERE id = ?", [.text(id)]) }
                result.append(Summary(id: id, name: try row.map { TemplateNames.shown(try $0.string("name")) } ?? id, style: "", placeholders: [],
                                      warnings: ["This template no longer loads: \(error)"], createdAt: try row?.int("created_at") ?? 0))
            }
        }
        return result
    }

    /// One template by id or name.
    /// - Throws: `DomainError.notFound` when the tenant has no such template (another tenant's included).
    public func summary(tenant: String, mode: CardMode? = nil, idOrName: String) async throws -> Summary {
        let (id, template, createdAt) = try await load(tenant: tenant, mode: mode, idOrName: idOrName)
        return Self.summary(id: id, template: template, createdAt: createdAt)
    }

    /// The compiled template, loading it from the store the first time.
    /// - Parameter mode: the mode of the key asking (it sees its mode's templates and shared
    ///   ones); nil when the service itself asks, such as for a card it already holds.
    public func load(tenant: String, mode: CardMode? = nil, idOrName: String) async throws -> (id: String, template: PassTemplate, createdAt: Int64) {
        let row = try await database.withConnection { connection in
            try connection.first("""
                SELECT id, name, created_at FROM templates
                WHERE tenant_id = ? AND (id = ? OR (name = ? AND mode IS NULL) OR (name = ? AND mode IS NOT NULL))\(Self.modeClause(mode))
                """, [.text(tenant), .text(idOrName), .text(idOrName), .text(TemplateNames.stored(idOrName, mode: mode))] + Self.modeBinds(mode))
        }
        guard let row else { throw DomainError(.notFound, "No template \(idOrName).") }
        let id = try row.string("id"), name = TemplateNames.shown(try row.string("name")), createdAt = try row.int("created_at")
        if let template = loaded.value(for: id) { return (id, template, createdAt) }
        let files = try await database.withConnection { connection -> [String: [UInt8]] in
            var files: [String: [UInt8]] = [:]
            files["pass.json"] = try connection.first("SELECT pass_json FROM templates WHERE id = ?", [.text(id)])!.blob("pass_json")
            for asset in try connection.query("SELECT path, content FROM template_assets WHERE template_id = ?", [.text(id)]) {
                files[try asset.string("path")] = try asset.blob("content")
            }
            return files
        }
        let template = try PassTemplate(name: name, files: files)
        loaded.store(template, for: id, bytes: files.values.reduce(0) { $0 + $1.count })
        return (id, template, createdAt)
    }

    /// The template's logo for Google, by template id alone (logos are public): its square
    /// `google/logo.png`, else the pass's own (the @2x one when it has it).
    public func logo(templateID: String) async throws -> [UInt8]? {
        try await database.withConnection { connection in
            let rows = try connection.query("SELECT path, content FROM template_assets WHERE template_id = ? AND path IN ('google/logo.png', 'logo@2x.png', 'logo.png')",
                                            [.text(templateID)])
            let byPath = Dictionary(try rows.map { (try $0.string("path"), try $0.blob("content")) }, uniquingKeysWith: { a, _ in a })
            return byPath["google/logo.png"] ?? byPath["logo@2x.png"] ?? byPath["logo.png"]
        }
    }

    /// The template's wide banner for Google (`google/hero.png`), if it has one.
    public func hero(templateID: String) async throws -> [UInt8]? {
        try await database.withConnection { connection in
            try connection.first("SELECT content FROM template_assets WHERE template_id = ? AND path = 'google/hero.png'", [.text(templateID)])?.blob("content")
        }
    }

    /// - Throws: `DomainError.invalid` when the template has nowhere to show a message.
    public func requireMessageField(tenant: String, idOrName: String) async throws {
        let (_, template, _) = try await load(tenant: tenant, idOrName: idOrName)
        guard template.placeholders.contains(where: { $0.key == MessageField.key }) else {
            throw DomainError(.invalid, "Template \(template.name) has no {{message}} placeholder; add a back field whose value is {{message}} "
                             + "and whose changeMessage is \"%@\", so Wallet shows the message on the lock screen.")
        }
    }

    /// A key of `mode` sees its mode's templates and the shared ones (mode NULL); nil sees all.
    static func modeClause(_ mode: CardMode?) -> String { mode == nil ? "" : " AND (mode IS NULL OR mode = ?)" }
    static func modeBinds(_ mode: CardMode?) -> [SQLValue] { mode.map { [.text($0.rawValue)] } ?? [] }

    static func summary(id: String, template: PassTemplate, createdAt: Int64) -> Summary {
        Summary(id: id, name: template.name, style: template.style, placeholders: template.placeholders.map(\.key),
                warnings: template.warnings.map(\.description), createdAt: createdAt)
    }
}
