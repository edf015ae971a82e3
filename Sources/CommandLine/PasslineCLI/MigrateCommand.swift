import ArgumentParser
import PasslineDatabase
import PasslineStore

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending migrations to the store and exit.",
        discussion: "The store is PASSLINE_DATABASE_URL: sqlite:PATH (default sqlite:./var/passline.sqlite), postgres://…, postgresql://… or a libpq connection string. Safe to run from several instances at once."
    )

    @Option(name: .customLong("database-url"), help: "Overrides PASSLINE_DATABASE_URL.")
    var databaseURL: String?

    func run() async throws {
        let url = try databaseURL.map(DatabaseURL.init(parsing:)) ?? DatabaseURL.fromEnvironment()
        let database = try await url.open(maxConnections: 1)
        let applied = try await Migrator.migrate(database)
        let current = try await Migrator.applied(database).last ?? 0
        await database.close()
        if applied.isEmpty {
            print("\(url): schema up to date (version \(current)).")
        } else {
            let names = Schema.migrations.filter { applied.contains($0.version) }.map { "\($0.version) (\($0.name))" }
            print("\(url): applied \(names.joined(separator: ", ")); schema at version \(current).")
        }
    }
}
