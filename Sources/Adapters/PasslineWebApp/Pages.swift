import Foundation
import Hummingbird
import Mustache
import PasslineCrypto

/// The app's templates and static files, loaded once from the target's resources, and the
/// headers every page goes out with.
struct Pages: Sendable {
    let library: MustacheLibrary
    let css: [UInt8]
    let script: [UInt8]
    /// Changes whenever a static file does: pages link `app.css?v=…`, so browsers keep the
    /// files for a year and still never use a stale one.
    let assetVersion: String

    static let shared: Pages = {
        guard let root = Bundle.module.resourceURL else { fatalError("The web app's resources are missing from the build.") }
        var templates: [String: MustacheTemplate] = [:]
        let folder = root.appendingPathComponent("templates")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasSuffix(".mustache") {
            guard let text = try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8),
                  let template = try? MustacheTemplate(string: text) else { fatalError("The web app's template \(name) does not parse.") }
            templates[String(name.dropLast(".mustache".count))] = template
        }
        func file(_ name: String) -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: root.appendingPathComponent("static/\(name)").path) else {
                fatalError("The web app's static file \(name) is missing from the build.")
            }
            return Array(data)
        }
        let css = file("app.css"), script = file("app.js")
        return Pages(library: MustacheLibrary(templates: templates), css: css, script: script,
                     assetVersion: String(Digest.hex(Digest.sha256(css + script)).prefix(12)))
    }()

    /// Pages carry personal data and act with a session: no caching, no framing, no scripts or
    /// styles but the app's own, forms only to the app.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .cacheControl: "no-store",
        .init("Referrer-Policy")!: "same-origin",
        .xContentTypeOptions: "nosniff",
        .init("X-Frame-Options")!: "DENY",
        .init("Permissions-Policy")!: "camera=(self), microphone=(), geolocation=()",
    ]

    func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var values = values
        values["asset"] = assetVersion
        let html = library.render(values, withTemplate: template) ?? "The page \(template) could not be drawn."
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func asset(_ name: String) -> Response? {
        let (bytes, type): ([UInt8], String)
        switch name {
        case "app.css": (bytes, type) = (css, "text/css; charset=utf-8")
        case "app.js": (bytes, type) = (script, "text/javascript; charset=utf-8")
        default: return nil
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=31536000, immutable", .xContentTypeOptions: "nosniff"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func redirect(_ location: String, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: .seeOther, headers: headers)
    }
}
