import ApplePass
import Foundation
@testable import PasslineServer
import PasslineWebApp
import PasslineTestSupport
import PasslineZip
import Testing

@Suite("The card's public page and its QR codes, over HTTP")
struct CardPageTests {
    static let iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
    static let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"

    /// The loyalty template and a card whose member name needs escaping; returns the page's path.
    func setUp(_ kind: TestDatabase, wire: Bool = false) async throws -> (LiveServer, [String: String], serial: String, page: String) {
        let (server, key, serial) = try await TransactionTests().setUp(kind, wire: wire)
        let patched = try await server.send("PATCH", "/api/v1/cards/\(serial)", body: #"{"memberName":"Zoë <script>alert(1)</script> & \"Co\"","fields":{"tier":"Gold"}}"#, headers: key)
        let page = try #require((patched.json?["links"] as? [String: String])?["page"])
        #expect(page.hasPrefix("https://cards.example.com/c/"))
        return (server, key, serial, String(page.dropFirst("https://cards.example.com".count)))
    }

    @Test("the page shows the card from its pass, escapes its text, offers the download and caches by version", arguments: TestDatabase.available)
    func page(kind: TestDatabase) async throws {
        let (server, key, serial, path) = try await setUp(kind)
        let token = String(path.dropFirst("/c/".count))
        let reply = try await server.send("GET", path, headers: ["User-Agent": Self.iPhone])
        #expect(reply.status == 200)
        #expect(reply.contentType == "text/html; charset=utf-8")
        let html = String(decoding: reply.body, as: UTF8.self)
        #expect(html.contains("Zoë &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;"))
        #expect(!html.contains("<script"), "no script at all, and none smuggled in through a name")
        #expect(html.contains(">120<") && html.contains(">Gold<") && html.contains("rgb(46, 26, 71)"), "balance, tier and the pass's colours")
        #expect(html.contains("id=\"add-to-apple-wallet\" href=\"\(token)/pass.pkpass\""))
        #expect(!html.contains("add-to-google-wallet"), "no Google button without Google configured")
        #expect(html.contains("id=\"member-code\"") && html.contains("id=\"page-qr\""))
        #expect(html.contains("src=\"\(token)/logo.png?v=2\""))
        #expect(reply.header("Cache-Control") == "private, no-cache")
        #expect(reply.header("Referrer-Policy") == "no-referrer", "the token in the URL must not leak to other sites")
        #expect(reply.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
        let etag = try #require(reply.header("ETag"))
        #expect(try await server.send("GET", path, headers: ["User-Agent": Self.iPhone, "If-None-Match": etag]).status == 304)

        // The download behind the button, and the images the page shows.
        let download = try await server.send("GET", "/c/\(token)/pass.pkpass")
        #expect(download.status == 200 && download.contentType == "application/vnd.apple.pkpass")
        let logo = try await server.send("GET", "/c/\(token)/logo.png")
        #expect(logo.status == 200 && logo.contentType == "image/png" && logo.body.starts(with: [0x89, 0x50, 0x4E, 0x47]))

        // German strings for a German visitor; a new version changes the ETag.
        let german = String(decoding: try await server.send("GET", path, headers: ["Accept-Language": "de-DE, en;q=0.5"]).body, as: UTF8.self)
        #expect(german.contains("<html lang=\"de\">") && german.contains("PUNKTE"))
        _ = try await server.send("POST", "/api/v1/cards/\(serial)/transactions", body: #"{"points":5,"reason":"visit"}"#, headers: key)
        let after = try await server.send("GET", path, headers: ["User-Agent": Self.iPhone, "If-None-Match": etag])
        #expect(after.status == 200 && String(decoding: after.body, as: UTF8.self).contains(">125<"))

        // A voided card says so and offers nothing to add.
        _ = try await server.send("POST", "/api/v1/cards/\(serial)/void", headers: key)
        let voided = String(decoding: try await server.send("GET", path).body, as: UTF8.self)
        #expect(voided.contains("has been voided") && !voided.contains("add-to-apple-wallet") && !voided.contains("member-code"))

        let unknown = try await server.send("GET", "/c/not-a-real-token")
        #expect(unknown.status == 404 && unknown.contentType == "text/html; charset=utf-8")
        #expect(String(decoding: unknown.body, as: UTF8.self).contains("not valid"))
        #expect(try await server.send("GET", "/c/not-a-real-token/logo.png").status == 404)
        await server.stop()
    }

    @Test("the official badges from PASSLINE_BADGES_DIR replace the look-alike buttons; a bad badge file stops the start naming it")
    func officialBadges() async throws {
        let folder = TestSupport.temporaryFolder()
        let svg = Array(#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="110" height="40"><text y="20">Add to Apple Wallet</text></svg>"#.utf8)
        TestSupport.write(svg, to: folder.appendingPathComponent("apple.svg"))
        let badges = try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: ["PASSLINE_BADGES_DIR": folder.path]).badges
        #expect(badges.apple?.file == "apple.svg" && badges.google == nil)
        let server = try await LiveServer.start(.sqlite) { $0.badges = badges }
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        _ = try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: Data(try writer.finish()), headers: key)
        let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M","memberName":"N","points":1}"#, headers: key)
        let page = String(try #require((created.json?["links"] as? [String: String])?["page"]).dropFirst("https://cards.example.com".count))
        let html = String(decoding: try await server.send("GET", page).body, as: UTF8.self)
        #expect(html.contains(#"<img src="../badges/apple.svg" alt="Add to Apple Wallet">"#) && html.contains("button apple badge"), "\(html.suffix(2500))")
        let served = try await server.send("GET", "/badges/apple.svg")
        #expect(served.status == 200 && Array(served.body) == svg && served.contentType == "image/svg+xml")
        #expect(try await server.send("GET", "/badges/google.svg").status == 404)
        #expect(try await server.send("GET", "/badges/..%2Fpassline.sqlite").status == 404)
        await server.stop()

        // Start-up refuses what is not a badge, naming the file.
        TestSupport.write(Array("GIF89a".utf8), to: folder.appendingPathComponent("google.png"))
        #expect {
            try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: ["PASSLINE_BADGES_DIR": folder.path])
        } throws: { "\($0)".contains("google.png is not a PNG") }
        let empty = TestSupport.temporaryFolder()
        #expect { try ServerConfiguration.resolve(listen: "127.0.0.1:0", environment: ["PASSLINE_BADGES_DIR": empty.path]) } throws: { "\($0)".contains("neither") }
    }

    @Test("the visitor's platform decides which button comes first")
    func buttonOrder() throws {
        let preview = try PassPreview(files: TestSupport.templateFiles("loyalty").filter { $0.key != "pass.json" }
            .merging(["pass.json": Array(#"{"formatVersion":1,"description":"D","organizationName":"O","storeCard":{}}"#.utf8)]) { $1 })
        func page(_ agent: String) -> String {
            CardPage(preview: preview, applePassURL: "t/pass.pkpass", googleSaveURL: "https://pay.google.com/gp/v/save/x", pageURL: "https://x/c/t",
                     logoPath: nil, stripPath: nil, platform: .init(userAgent: agent)).html()
        }
        for (agent, appleFirst) in [(Self.iPhone, true), (Self.android, false), ("curl/8", true)] {
            let html = page(agent)
            let apple = try #require(html.range(of: "add-to-apple-wallet")), google = try #require(html.range(of: "add-to-google-wallet"))
            #expect((apple.lowerBound < google.lowerBound) == appleFirst, "\(agent)")
        }
    }

    /// What zbarimg reads from a PNG.
    func decode(_ png: Data) async throws -> String {
        let folder = TestSupport.temporaryFolder()
        TestSupport.write([UInt8](png), to: folder.appendingPathComponent("code.png"))
        let result = try await TestSupport.run("zbarimg", ["--quiet", "--raw", "code.png"], in: folder)
        #expect(result.status == 0, "zbarimg: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .newlines)
    }

    @Test("qr.png and qr.svg carry the member's code or the page link; bad options and other tenants' cards are refused", arguments: TestDatabase.available)
    func qr(kind: TestDatabase) async throws {
        let (server, key, serial, path) = try await setUp(kind)
        let png = try await server.send("GET", "/api/v1/cards/\(serial)/qr.png?level=H&scale=4", headers: key)
        #expect(png.status == 200 && png.contentType == "image/png")
        await #expect(try decode(png.body) == "M", "the pass's barcode message")

        let svg = try await server.send("GET", "/api/v1/cards/\(serial)/qr.svg?of=page", headers: key)
        #expect(svg.status == 200 && svg.contentType == "image/svg+xml")
        let folder = TestSupport.temporaryFolder()
        TestSupport.write([UInt8](svg.body), to: folder.appendingPathComponent("page.svg"))
        #expect(try await TestSupport.run("rsvg-convert", ["page.svg", "-o", "page.png"], in: folder).status == 0)
        await #expect(try decode(try Data(contentsOf: folder.appendingPathComponent("page.png"))) == "https://cards.example.com" + path)

        for (query, field) in [("level=X", "level"), ("scale=0", "scale"), ("scale=x", "scale"), ("of=receipt", "of")] {
            let bad = try await server.send("GET", "/api/v1/cards/\(serial)/qr.png?\(query)", headers: key)
            #expect(bad.status == 400 && (bad.json?["detail"] as? String)?.contains(field) == true, "\(query)")
        }
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)/qr.png", headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 404)
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)/qr.png").status == 401)
        await server.stop()
    }

    @Test("headless Chromium renders the page: the Apple button leads to a pkpass download; a screenshot is taken")
    func chromium() async throws {
        // A browser needs a socket.
        let (server, key, serial, path) = try await setUp(.sqlite, wire: true)
        _ = try await server.send("PATCH", "/api/v1/cards/\(serial)", body: #"{"memberName":"Zoë Martin","fields":{"tier":"Gold"}}"#, headers: key)
        _ = try await server.send("POST", "/api/v1/cards/\(serial)/transactions", body: #"{"points":1130,"reason":"treatment"}"#, headers: key)
        let folder = TestSupport.temporaryFolder()
        let url = server.base + path
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                      "--user-data-dir=\(folder.appendingPathComponent("profile").path)", "--user-agent=\(Self.iPhone)"]
        let dom = try await TestSupport.run("chromium", common + ["--dump-dom", url])
        #expect(dom.status == 0, "chromium (scripts/test installs Debian's chromium): \(dom.stderr.suffix(500))")
        // The DOM as the browser parsed it: the button is a real link, the card's data is on it.
        let href = try #require(dom.stdout.firstMatch(of: /id="add-to-apple-wallet" href="([^"]+)"/)?.1)
        #expect(dom.stdout.contains("Add to</span> Apple Wallet") && dom.stdout.contains(">1,250<") && dom.stdout.contains("Zoë Martin"))
        let target = try #require(URL(string: String(href), relativeTo: URL(string: url)))
        let download = try await server.send("GET", target.path)
        #expect(download.status == 200 && download.contentType == "application/vnd.apple.pkpass")
        #expect(PassVerifier.verify([UInt8](download.body), trustAnchors: [TestSupport.identity.root]).isValid)

        let shot = folder.appendingPathComponent("card-page.png")
        let capture = try await TestSupport.run("chromium", common + ["--window-size=430,1000", "--screenshot=\(shot.path)", url])
        #expect(capture.status == 0, "\(capture.stderr.suffix(500))")
        let image = try Data(contentsOf: shot)
        #expect(image.count > 10_000 && image.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a real rendering, not a blank page")
        if let keep = ProcessInfo.processInfo.environment["PASSLINE_SCREENSHOT_OUT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(at: shot, to: URL(fileURLWithPath: keep))
        }
        await server.stop()
    }
}
