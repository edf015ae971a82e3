import ApplePass
import Foundation
import PasslineCrypto
import PasslineJSON
import PasslineSQL
import PasslineStore
import Synchronization

/// A tenant's pass templates: validated on upload, stored file by file, loaded (and compiled)
/// once per process.
public final class Templates: Sendable {
    public let database: any SQLDatabase
    private let loaded = Mutex<[String: PassTemplate]>([:])

    public init(database: any SQLDatabase) { self.database = database }

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
    /// - Throws: `PassError.invalidTemplate` listing every fault, `StoreError.conflict` when the name exists.
    public func create(tenant: String, name: String, zip: [UInt8], now: Int64 = Clock.milliseconds()) async throws -> Summary {
        try await create(tenant: tenant, name: name, files: try PassTemplate.files(fromZip: zip), now: now)
    }

    /// Validates and stores a template given file by file (path → bytes), as the zip or JSON upload delivers it.
    /// - Throws: `PassError.invalidTemplate` listing every fault, `StoreError.conflict` when the name exists.
    public func create(tenant: String, name: String, files given: [String: [UInt8]], now: Int64 = Clock.milliseconds()) async throws -> Summary {
        guard !name.isEmpty, name.count <= 100, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw StoreError(.invalid, "name must be 1 to 100 letters, digits, '-', '_' or '.', found \"\(name)\".")
        }
        // Path tricks are refused before hidden files are dropped: ".." starts with a dot too.
        for path in given.keys.sorted() {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            if parts.contains("..") || parts.contains(".") || parts.contains("") || path.contains("\\") {
                throw StoreError(.invalid, "The file name \(path) points outside the template; use paths such as icon.png or en.lproj/pass.strings.")
            }
        }
        let files = given.filter { !$0.key.split(separator: "/").contains { $0.hasPrefix(".") || $0 == "__MACOSX" } }
        let template = try PassTemplate(name: name, files: files)
        let id = "tpl_" + SecureRandom.token(length: 16)
        let assets = files.filter { $0.key != "pass.json" }, passJSON = files["pass.json"]!
        try await database.transaction { connection in
            try Records.createTemplate(id: id, tenant: tenant, name: name, passJSON: passJSON, now: now, on: connection)
            for (path, bytes) in assets {
                try connection.execute("INSERT INTO template_assets (template_id, path, content) VALUES (?, ?, ?)", [.text(id), .text(path), .blob(bytes)])
            }
        }
        loaded.withLock { $0[id] = template }
        return Self.summary(id: id, template: template, createdAt: now)
    }

    /// The tenant's templates, oldest first.
    public func list(tenant: String) async throws -> [Summary] {
        let ids = try await database.withConnection { connection in
            try connection.query("SELECT id FROM templates WHERE tenant_id = ? ORDER BY created_at, id", [.text(tenant)]).map { try $0.string("id") }
        }
        var result: [Summary] = []
        for id in ids {
            do {
                result.append(try await summary(tenant: tenant, idOrName: id))
            } catch let error as PassError {
                // A template stored under older rules still shows up, saying why it no longer loads.
                let row = try await database.withConnection { try $0.first("SELECT name, created_at FROM templates WHERE id = ?", [.text(id)]) }
                result.append(Summary(id: id, name: try row?.string("name") ?? id, style: "", placeholders: [],
                                      warnings: ["This template no longer loads: \(error)"], createdAt: try row?.int("created_at") ?? 0))
            }
        }
        return result
    }

    /// One template by id or name.
    /// - Throws: `StoreError.notFound` when the tenant has no such template (another tenant's included).
    public func summary(tenant: String, idOrName: String) async throws -> Summary {
        let (id, template, createdAt) = try await load(tenant: tenant, idOrName: idOrName)
        return Self.summary(id: id, template: template, createdAt: createdAt)
    }

    /// The compiled template, loading it from the store the first time.
    public func load(tenant: String, idOrName: String) async throws -> (id: String, template: PassTemplate, createdAt: Int64) {
        let row = try await database.withConnection { connection in
            try connection.first("SELECT id, name, created_at FROM templates WHERE tenant_id = ? AND (id = ? OR name = ?)",
                                 [.text(tenant), .text(idOrName), .text(idOrName)])
        }
        guard let row else { throw StoreError(.notFound, "No template \(idOrName).") }
        let id = try row.string("id"), name = try row.string("name"), createdAt = try row.int("created_at")
        if let template = loaded.withLock({ $0[id] }) { return (id, template, createdAt) }
        let files = try await database.withConnection { connection -> [String: [UInt8]] in
            var files: [String: [UInt8]] = [:]
            files["pass.json"] = try connection.first("SELECT pass_json FROM templates WHERE id = ?", [.text(id)])!.blob("pass_json")
            for asset in try connection.query("SELECT path, content FROM template_assets WHERE template_id = ?", [.text(id)]) {
                files[try asset.string("path")] = try asset.blob("content")
            }
            return files
        }
        let template = try PassTemplate(name: name, files: files)
        loaded.withLock { $0[id] = template }
        return (id, template, createdAt)
    }

    /// The template's logo (the @2x one when it has it), by template id alone: logos are public.
    public func logo(templateID: String) async throws -> [UInt8]? {
        try await database.withConnection { connection in
            let rows = try connection.query("SELECT path, content FROM template_assets WHERE template_id = ? AND path IN ('logo@2x.png', 'logo.png')",
                                            [.text(templateID)])
            let byPath = Dictionary(try rows.map { (try $0.string("path"), try $0.blob("content")) }, uniquingKeysWith: { a, _ in a })
            return byPath["logo@2x.png"] ?? byPath["logo.png"]
        }
    }

    /// - Throws: `StoreError.invalid` when the template has nowhere to show a message.
    public func requireMessageField(tenant: String, idOrName: String) async throws {
        let (_, template, _) = try await load(tenant: tenant, idOrName: idOrName)
        guard template.placeholders.contains(where: { $0.key == MessageField.key }) else {
            throw StoreError(.invalid, "Template \(template.name) has no {{message}} placeholder; add a back field whose value is {{message}} "
                             + "and whose changeMessage is \"%@\", so Wallet shows the message on the lock screen.")
        }
    }

    static func summary(id: String, template: PassTemplate, createdAt: Int64) -> Summary {
        Summary(id: id, name: template.name, style: template.style, placeholders: template.placeholders.map(\.key),
                warnings: template.warnings.map(\.description), createdAt: createdAt)
    }
}
