import LoyaltyRules
import PasslineDatabase
import PasslineService
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import Testing

@Suite("Template quotas and the bounded caches")
struct TemplateQuotaTests {
    @Test("a tenant's templates are limited in number and bytes, each tenant on its own; files per upload on every path", arguments: TestDatabase.available)
    func quotas(kind: TestDatabase) async throws {
        let database = try await kind.make()
        try await Migrator.migrate(database)
        try await database.transaction { connection in
            try TenantRows.create(id: "t1", name: "One", now: 1, on: connection)
            try TenantRows.create(id: "t2", name: "Two", now: 1, on: connection)
        }
        let files = TestSupport.templateFiles("loyalty")
        let size = files.values.reduce(0) { $0 + $1.count }
        var quotas = Templates.Quotas()
        quotas.maxTemplates = 2
        quotas.maxBytes = size * 3 - 1
        let templates = Templates(database: database, quotas: quotas)
        _ = try await templates.create(tenant: "t1", name: "a", files: files)
        _ = try await templates.create(tenant: "t1", name: "b", files: files)
        await #expect { try await templates.create(tenant: "t1", name: "c", files: files) } throws: { error in
            (error as? DomainError)?.code == .quotaExceeded && "\(error)".contains("limit of 2")
        }
        // Another tenant is not held by the first one's use.
        _ = try await templates.create(tenant: "t2", name: "a", files: files)
        _ = try await templates.create(tenant: "t2", name: "b", files: files)

        quotas.maxTemplates = 10
        let byBytes = Templates(database: database, quotas: quotas)
        await #expect { try await byBytes.create(tenant: "t1", name: "c", files: files) } throws: { error in
            (error as? DomainError)?.code == .quotaExceeded && "\(error)".contains("over its limit of \((size * 3 - 1).formatted())")
        }
        // A JSON upload, file by file, meets the zip's file-count limit too.
        var many = files
        for i in 0..<250 { many["junk\(i).txt"] = [1] }
        await #expect { try await byBytes.create(tenant: "t2", name: "many", files: many) } throws: { error in
            (error as? DomainError)?.code == .invalid && "\(error)".contains("at most 200")
        }
        #expect(try await templates.list(tenant: "t1").map(\.name) == ["a", "b"])
        await database.close()
    }

    @Test("the bounded cache drops the least recently used by count and by bytes, and never keeps an entry over its bound")
    func boundedCache() {
        let cache = BoundedCache<String, Int>(maxCount: 3, maxBytes: 100)
        cache.store(1, for: "a", bytes: 10)
        cache.store(2, for: "b", bytes: 10)
        cache.store(3, for: "c", bytes: 10)
        #expect(cache.value(for: "a") == 1)  // a is now the most recent
        cache.store(4, for: "d", bytes: 10)
        #expect(cache.value(for: "b") == nil && cache.value(for: "a") == 1 && cache.count == 3)
        cache.store(5, for: "e", bytes: 90)  // pushes out until 100 bytes hold
        #expect(cache.bytes == 100 && cache.value(for: "e") == 5 && cache.value(for: "a") == 1 && cache.value(for: "c") == nil)
        cache.store(6, for: "huge", bytes: 101)
        #expect(cache.value(for: "huge") == nil)
        cache.store(7, for: "e", bytes: 20)  // a replaced entry counts its new size only
        #expect(cache.bytes == 30 && cache.value(for: "e") == 7)
        for i in 0..<10_000 { cache.store(i, for: "k\(i % 7)", bytes: 1); _ = cache.value(for: "k\(i % 5)") }
        #expect(cache.count <= 3 && cache.bytes <= 100)
        cache.removeAll { $0.hasPrefix("k") }
        #expect((0..<7).allSatisfy { cache.value(for: "k\($0)") == nil })
    }
}
