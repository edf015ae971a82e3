import LoyaltyRules
import PasslinePNG
import PasslineSQL
import PasslineStore

/// A business's own look where Passline draws the page itself (the staff app's header, the
/// public card page) and the template the app offers first. The card itself keeps its
/// template's colours and images: they are the pass, signed as uploaded.
public struct TenantBranding: Sendable {
    let database: any SQLDatabase
    let templates: Templates
    /// Every staff page draws the look: it is read at most every 5 seconds per tenant and
    /// process, so a change shows here at once and on other processes within 5 seconds.
    private let looks = BoundedCache<String, (look: Look, readAt: Int64)>(maxCount: 10_000, maxBytes: 10_000 * 256)

    public init(database: any SQLDatabase, templates: Templates) {
        self.database = database
        self.templates = templates
    }

    public struct Look: Sendable, Equatable {
        /// The business's name, as the operator registered it.
        public let name: String
        /// Whether the business chose colours or a logo; without, pages keep Passline's own look.
        public let isChosen: Bool
        public let colors: BrandColors
        /// Whether a logo was uploaded; the bytes come from `logo(tenant:)`.
        public let hasLogo: Bool
        /// The default template's id, when one was chosen and still exists.
        public let defaultTemplate: String?
        /// Changes with every save, for cache-busting URLs.
        public let version: Int64
    }

    /// The logo's limits: the header shows it at 40 pixels high, so 512 at most is plenty.
    public static let maxLogoBytes = 256 * 1024
    public static let maxLogoSide = 1024

    public func look(tenant: String, now: Int64 = WallClock.milliseconds()) async throws -> Look {
        if let cached = looks.value(for: tenant), now - cached.readAt < 5_000, now >= cached.readAt { return cached.look }
        let look = try await database.withConnection { connection in
            Self.look(try BrandingRows.get(tenant: tenant, on: connection), name: try TenantRows.name(tenant, on: connection) ?? "")
        }
        looks.store((look, now), for: tenant, bytes: 256)
        return look
    }

    static func look(_ row: BrandingRows.Row?, name: String) -> Look {
        let colors = row.flatMap { row in row.background.flatMap { back in row.textColor.flatMap { try? BrandColors(background: back, text: $0) } } }
        return Look(name: name, isChosen: colors != nil || row?.logo != nil, colors: colors ?? .standard, hasLogo: row?.logo != nil,
                    defaultTemplate: row?.defaultTemplate, version: row?.updatedAt ?? 0)
    }

    public func logo(tenant: String) async throws -> [UInt8]? {
        try await database.withConnection { try BrandingRows.get(tenant: tenant, on: $0)?.logo }
    }

    /// Sets the colours.
    /// - Throws: `DomainError.invalid` naming a colour that is not `#RRGGBB` or a pair too close to read.
    public func setColors(tenant: String, background: String, text: String, now: Int64 = WallClock.milliseconds()) async throws -> Look {
        let colors = try BrandColors(background: background, text: text)
        return try await update(tenant: tenant, now: now) { $0.background = colors.background; $0.textColor = colors.text }
    }

    /// Sets the logo (a PNG), or removes it with nil.
    /// - Throws: `DomainError.invalid` saying what is wrong with the file.
    public func setLogo(tenant: String, png: [UInt8]?, now: Int64 = WallClock.milliseconds()) async throws -> Look {
        if let png {
            guard png.count <= Self.maxLogoBytes else {
                throw DomainError(.invalid, "The logo is \(png.count / 1024) KB; at most \(Self.maxLogoBytes / 1024) KB are taken. Save it smaller (512 pixels wide is plenty).")
            }
            let image: PNGChecker.Image
            do { image = try PNGChecker.check(png) } catch let failure as PNGChecker.Failure {
                throw DomainError(.invalid, "The logo must be a PNG image; this file \(failure.description).")
            }
            guard image.width <= Self.maxLogoSide, image.height <= Self.maxLogoSide else {
                throw DomainError(.invalid, "The logo is \(image.width)×\(image.height) pixels; at most \(Self.maxLogoSide) on each side are taken.")
            }
        }
        return try await update(tenant: tenant, now: now) { $0.logo = png }
    }

    /// Chooses the template the app offers first (imports, messages, the program's preview).
    /// - Throws: `DomainError.notFound` when the tenant has no such template in `mode`.
    public func setDefaultTemplate(tenant: String, mode: CardMode, idOrName: String, now: Int64 = WallClock.milliseconds()) async throws -> Look {
        let id = try await templates.load(tenant: tenant, mode: mode, idOrName: idOrName).id
        return try await update(tenant: tenant, now: now) { $0.defaultTemplate = id }
    }

    /// The template the app offers first: the chosen one while it exists, else the oldest.
    public func defaultTemplate(tenant: String, mode: CardMode) async throws -> Templates.Summary? {
        try await defaultFirst(try await templates.list(tenant: tenant, mode: mode), tenant: tenant).first
    }

    /// `templates` with the default first: the order every choice of template in the app uses.
    public func defaultFirst(_ templates: [Templates.Summary], tenant: String) async throws -> [Templates.Summary] {
        let chosen = try await look(tenant: tenant).defaultTemplate
        return templates.filter { $0.id == chosen } + templates.filter { $0.id != chosen }
    }

    private func update(tenant: String, now: Int64, _ change: @escaping @Sendable (inout BrandingRows.Row) -> Void) async throws -> Look {
        let look = try await database.transaction { connection in
            guard let name = try TenantRows.name(tenant, on: connection) else { throw DomainError(.notFound, "Tenant \(tenant) does not exist.") }
            var row = try BrandingRows.get(tenant: tenant, on: connection) ?? .init()
            change(&row)
            return Self.look(try BrandingRows.put(tenant: tenant, row, now: now, on: connection), name: name)
        }
        looks.store((look, WallClock.milliseconds()), for: tenant, bytes: 256)
        return look
    }
}
