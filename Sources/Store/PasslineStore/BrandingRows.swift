import PasslineSQL

/// A tenant's branding row: its colours, logo and default template, each nil until chosen.
public enum BrandingRows {
    public struct Row: Sendable, Equatable {
        public var background: String?
        public var textColor: String?
        public var logo: [UInt8]?
        public var defaultTemplate: String?
        /// Changes with every save: the logo's and stylesheet's URLs carry it, so they can be cached.
        public var updatedAt: Int64

        public init(background: String? = nil, textColor: String? = nil, logo: [UInt8]? = nil, defaultTemplate: String? = nil, updatedAt: Int64 = 0) {
            self.background = background; self.textColor = textColor; self.logo = logo
            self.defaultTemplate = defaultTemplate; self.updatedAt = updatedAt
        }
    }

    public static func get(tenant: String, on connection: any SQLConnection) throws -> Row? {
        guard let row = try connection.first("SELECT * FROM tenant_branding WHERE tenant_id = ?", [.text(tenant)]) else { return nil }
        return Row(background: try row.optionalString("background"), textColor: try row.optionalString("text_color"),
                   logo: try row.optionalBlob("logo"), defaultTemplate: try row.optionalString("default_template"),
                   updatedAt: try row.int("updated_at"))
    }

    /// Writes the whole row; `updatedAt` moves forward even when two saves share a millisecond.
    public static func put(tenant: String, _ row: Row, now: Int64, on connection: any SQLConnection) throws -> Row {
        var row = row
        let previous = try connection.first("SELECT updated_at FROM tenant_branding WHERE tenant_id = ?", [.text(tenant)])?.int("updated_at") ?? 0
        row.updatedAt = max(now, previous + 1)
        try connection.execute("""
            INSERT INTO tenant_branding (tenant_id, background, text_color, logo, default_template, updated_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id) DO UPDATE SET background = excluded.background, text_color = excluded.text_color, logo = excluded.logo,
                default_template = excluded.default_template, updated_at = excluded.updated_at
            """, [.text(tenant), row.background.map(SQLValue.text) ?? .null, row.textColor.map(SQLValue.text) ?? .null,
                  row.logo.map(SQLValue.blob) ?? .null, row.defaultTemplate.map(SQLValue.text) ?? .null, .int(row.updatedAt)])
        return row
    }
}
