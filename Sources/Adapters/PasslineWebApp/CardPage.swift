import ApplePass
import PasslineQR

/// The public page of a card (`/c/{publicToken}`): a preview drawn from the card's own pass, the
/// add-to-wallet buttons (the visitor's platform first), and the page's QR code for opening it on
/// another phone. Plain HTML and inline CSS: no script, nothing fetched from elsewhere. The staff
/// app shows the same card (`preview`) for a template and each reminder stage.
public struct CardPage: Sendable {
    public enum Platform: Sendable, Equatable {
        case apple, android, other

        /// Good enough to order two buttons; both are always offered.
        public init(userAgent: String?) {
            let agent = userAgent ?? ""
            if agent.contains("Android") { self = .android }
            else if agent.contains("iPhone") || agent.contains("iPad") || agent.contains("iPod") || agent.contains("Macintosh") { self = .apple }
            else { self = .other }
        }
    }

    /// The business's own bar above the card: its name, colours and logo.
    public struct Brand: Sendable {
        public let name: String
        public let background: String
        public let text: String
        public let logoPath: String?
        public init(name: String, background: String, text: String, logoPath: String?) {
            self.name = name; self.background = background; self.text = text; self.logoPath = logoPath
        }
    }

    let preview: PassPreview
    let applePassURL: String
    /// The "Save to Google Wallet" link, when the tenant has Google configured.
    let googleSaveURL: String?
    let pageURL: String
    /// Paths of the pass's own images, relative to the page, when it has them.
    let logoPath: String?
    let stripPath: String?
    let platform: Platform
    let brand: Brand?
    /// Only the card, for the staff app's previews: no buttons, no link to pass on.
    let cardOnly: Bool
    /// Paths of the official badges, when the operator provided them.
    let badges: Badges

    public struct Badges: Sendable {
        public let apple: String?
        public let google: String?
        public init(apple: String? = nil, google: String? = nil) { self.apple = apple; self.google = google }
    }

    public init(preview: PassPreview, applePassURL: String, googleSaveURL: String?, pageURL: String, logoPath: String?, stripPath: String?,
                platform: Platform, badges: Badges = Badges(), brand: Brand? = nil, cardOnly: Bool = false) {
        self.badges = badges
        self.preview = preview; self.applePassURL = applePassURL; self.googleSaveURL = googleSaveURL; self.pageURL = pageURL
        self.logoPath = logoPath; self.stripPath = stripPath; self.platform = platform; self.brand = brand; self.cardOnly = cardOnly
    }

    public func html() -> String {
        let background = preview.backgroundColor?.css ?? "rgb(255, 255, 255)"
        let foreground = preview.foregroundColor?.css ?? "rgb(0, 0, 0)"
        let label = preview.labelColor?.css ?? foreground
        let title = preview.description.isEmpty ? preview.organizationName : preview.description
        var body = ""
        if let brand, !cardOnly {
            body += "<header class=\"brandbar\">"
            if let logo = brand.logoPath { body += "<img src=\"\(Self.escape(logo))\" alt=\"\">" }
            body += "<span>\(Self.escape(brand.name))</span></header>\n"
        }
        body += "<main>\n<article class=\"card\" aria-label=\"\(Self.escape(title))\">\n<header>"
        if let logoPath { body += "<img class=\"logo\" src=\"\(Self.escape(logoPath))\" alt=\"\(Self.escape(preview.organizationName))\">" }
        body += "<span class=\"logo-text\">\(Self.escape(preview.logoText ?? (logoPath == nil ? preview.organizationName : "")))</span>"
        body += fields(preview.headerFields, class: "header-fields")
        body += "</header>\n"
        if let stripPath {
            body += "<div class=\"strip\"><img src=\"\(Self.escape(stripPath))\" alt=\"\">\(fields(preview.primaryFields, class: "primary"))</div>\n"
        } else {
            body += fields(preview.primaryFields, class: "primary")
        }
        body += fields(preview.secondaryFields + preview.auxiliaryFields, class: "secondary")
        if !preview.voided, let barcode = preview.barcode { body += barcodeHTML(barcode) }
        body += "</article>\n"

        if cardOnly {
            body += "</main>\n"
        } else {
            body += afterTheCard()
        }
        let brandCSS = brand.map { brand in
            ".brandbar { display: flex; align-items: center; gap: 10px; padding: 8px 16px; background: \(brand.background); color: \(brand.text); font-weight: 600; }\n"
                + ".brandbar img { max-height: 32px; max-width: 120px; }\n"
        } ?? ""
        let pageBackground = cardOnly ? "body { background: transparent; } main { padding: 8px; }\n" : ""
        let theme = brand.map { "<meta name=\"theme-color\" content=\"\($0.background)\">\n" } ?? ""
        return page(title: title, background: background, foreground: foreground, label: label, extraHead: theme, extraCSS: brandCSS + pageBackground, body: body)
    }

    /// The buttons, the back of the card and the link for another phone.
    private func afterTheCard() -> String {
        var body = ""
        if preview.voided {
            body += "<p class=\"voided\" role=\"status\">This card has been voided and can no longer be used or added to a wallet.</p>\n"
        } else {
            // The brands' official badges where the operator provided them, else look-alikes.
            func content(_ badge: String?, _ wallet: String) -> String {
                badge.map { "<img src=\"\(Self.escape($0))\" alt=\"Add to \(wallet)\">" } ?? "<span class=\"small\">Add to</span> \(wallet)"
            }
            var buttons = [
                "<a class=\"button apple\(badges.apple == nil ? "" : " badge")\" id=\"add-to-apple-wallet\" href=\"\(Self.escape(applePassURL))\" type=\"application/vnd.apple.pkpass\">"
                    + "\(content(badges.apple, "Apple Wallet"))</a>",
            ]
            if let googleSaveURL {
                let google = "<a class=\"button google\(badges.google == nil ? "" : " badge")\" id=\"add-to-google-wallet\" href=\"\(Self.escape(googleSaveURL))\">"
                    + "\(content(badges.google, "Google Wallet"))</a>"
                if platform == .android { buttons.insert(google, at: 0) } else { buttons.append(google) }
            }
            body += "<nav class=\"buttons\" aria-label=\"Add this card to your wallet\">\n\(buttons.joined(separator: "\n"))\n</nav>\n"
        }
        if !preview.backFields.isEmpty {
            body += "<details><summary>Details and terms</summary><dl>"
            for field in preview.backFields {
                body += "<dt>\(Self.escape(field.label ?? ""))</dt><dd>\(Self.escape(field.value).replacingOccurrences(of: "\n", with: "<br>"))</dd>"
            }
            body += "</dl></details>\n"
        }
        if let pageQR = try? QRCode(pageURL, level: .medium) {
            body += "<section class=\"elsewhere\"><h2>On another phone?</h2><p>Scan this code with its camera to open this page there.</p>"
            body += "<div class=\"qr\" id=\"page-qr\">\(pageQR.svg(pixelsPerModule: 4))</div></section>\n"
        }
        body += "</main>\n"
        return body
    }

    private func page(title: String, background: String, foreground: String, label: String, extraHead: String, extraCSS: String, body: String) -> String {
        """
            <!doctype html>
            <html lang="\(Self.escape(preview.language ?? "en"))">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="robots" content="noindex, nofollow">
            <meta name="referrer" content="no-referrer">
            \(extraHead)<title>\(Self.escape(title))</title>
            <style>
            :root { color-scheme: light dark; }
            * { box-sizing: border-box; }
            body { margin: 0; font: 16px/1.4 -apple-system, system-ui, "Segoe UI", Roboto, sans-serif; background: #f2f2f7; color: #1c1c1e; }
            @media (prefers-color-scheme: dark) { body { background: #000; color: #f2f2f7; } }
            main { max-width: 420px; margin: 0 auto; padding: 16px; }
            .card { background: \(background); color: \(foreground); border-radius: 14px; padding: 14px; box-shadow: 0 6px 24px rgba(0,0,0,.25); overflow: hidden; }
            .card header { display: flex; align-items: center; gap: 8px; min-height: 44px; }
            .logo { max-height: 40px; max-width: 140px; }
            .logo-text { flex: 1; font-weight: 600; }
            .label { display: block; color: \(label); font-size: 11px; font-weight: 600; letter-spacing: .04em; text-transform: uppercase; }
            .value { display: block; font-size: 17px; }
            .fields { display: flex; gap: 16px; margin: 10px 0; }
            .fields div { flex: 1; min-width: 0; overflow-wrap: anywhere; }
            .header-fields { margin: 0; flex: 0 1 auto; text-align: right; }
            .strip { position: relative; margin: 8px -14px; }
            .strip img { display: block; width: 100%; }
            .strip .primary { position: absolute; left: 14px; top: 8px; margin: 0; }
            .primary .value { font-size: 34px; font-weight: 300; }
            .barcode { background: #fff; color: #000; border-radius: 8px; margin: 16px auto 4px; padding: 8px; width: 180px; text-align: center; }
            .barcode svg { width: 100%; height: auto; display: block; }
            .barcode .alt { font-size: 12px; }
            .buttons { display: flex; flex-direction: column; gap: 12px; margin: 20px 0; align-items: center; }
            .button { display: block; width: 100%; max-width: 280px; min-height: 48px; padding: 10px 16px; border-radius: 10px; background: #000; color: #fff;
                      text-align: center; text-decoration: none; font-size: 19px; font-weight: 500; border: 1px solid #a6a6a6; }
            .button .small { display: block; font-size: 11px; font-weight: 400; }
            .button.badge { background: none; border: 0; padding: 0; min-height: 0; width: auto; }
            .button.badge img { display: block; height: 48px; width: auto; }
            .voided { background: #fde8e8; color: #8a1c1c; border-radius: 10px; padding: 12px; margin: 20px 0; font-weight: 600; }
            details { margin: 16px 0; }
            dt { font-size: 12px; font-weight: 600; text-transform: uppercase; opacity: .7; margin-top: 10px; }
            dd { margin: 2px 0 0; overflow-wrap: anywhere; }
            .elsewhere { text-align: center; font-size: 14px; margin-top: 24px; }
            .elsewhere h2 { font-size: 15px; margin: 0 0 4px; }
            .qr { width: 148px; margin: 8px auto; }
            .qr svg { width: 100%; height: auto; display: block; }
            \(extraCSS)</style>
            </head>
            <body>
            \(body)</body>
            </html>

            """
    }

    private func fields(_ list: [PassPreview.Field], class name: String) -> String {
        guard !list.isEmpty else { return "" }
        let items = list.map { field in
            "<div data-key=\"\(Self.escape(field.key))\"><span class=\"label\">\(Self.escape(field.label ?? ""))</span><span class=\"value\">\(Self.escape(field.value))</span></div>"
        }
        return "<div class=\"fields \(name)\">\(items.joined())</div>"
    }

    private func barcodeHTML(_ barcode: PassPreview.Barcode) -> String {
        let alt = barcode.altText.map { "<span class=\"alt\">\(Self.escape($0))</span>" } ?? ""
        // Only QR codes are drawn here; the other formats show their text, which the desk can type.
        if barcode.format == "PKBarcodeFormatQR", let code = try? QRCode(barcode.message, level: .medium) {
            return "<div class=\"barcode\" id=\"member-code\">\(code.svg(pixelsPerModule: 4))\(alt)</div>\n"
        }
        return "<div class=\"barcode\" id=\"member-code\"><code>\(Self.escape(barcode.message))</code>\(alt)</div>\n"
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A page for a link that leads nowhere: a customer reads it, not a program.
    public static func notFoundHTML() -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="robots" content="noindex"><title>Card not found</title></head>
        <body style="font: 16px/1.4 system-ui, sans-serif; max-width: 420px; margin: 40px auto; padding: 0 16px;">
        <h1 style="font-size: 20px;">This card link is not valid</h1>
        <p>It may have been mistyped or cut short. Ask the business that sent it for a new link.</p>
        </body></html>

        """
    }
}
