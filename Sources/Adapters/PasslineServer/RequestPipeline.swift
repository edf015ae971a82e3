import Foundation
import ApplePass
import Hummingbird
import PasslineCrypto
import PasslineJSON
import PasslineService

/// The limits of request bodies, a route's each: what a client may send, named in one place.
enum BodyLimit {
    /// A transaction, a registration: a few fields.
    static let small = 16 * 1024
    /// A card, a change of fields, a campaign: some dozens of fields.
    static let card = 64 * 1024
    /// Operator settings: PEM certificate chains, a Google key file.
    static let settings = 256 * 1024
    /// A template's zip: the most its files may hold together, and the zip's own records.
    static let templateZip = Int(PassTemplate.limits.maxTotalSize) + 64 * 1024
    /// The JSON form carries the files in base64, a third larger, with its own keys.
    static let templateJSON = Int(PassTemplate.limits.maxTotalSize) * 4 / 3 + 64 * 1024
}

/// Reads a request's body once, within the route's limit, and parses it: a body over the limit
/// is a 413, one that is not JSON a 400 naming the fault, one that is not an object a 422.
enum RequestBody {
    static func bytes(_ request: Request, limit: Int) async throws -> [UInt8] {
        var request = request
        return Array(buffer: try await request.collectBody(upTo: limit))
    }

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        do { return try JSONParser.parse(bytes) } catch { throw Problem.invalidJSON("\(error)") }
    }

    static func json(_ request: Request, limit: Int) async throws -> JSONValue {
        try parse(try await bytes(request, limit: limit))
    }

    /// The body as a JSON object, the shape every write of the API takes.
    static func object(_ request: Request, limit: Int) async throws -> JSONObject {
        try object(await json(request, limit: limit))
    }

    static func object(_ json: JSONValue) throws -> JSONObject {
        guard let object = json.objectValue else { throw Problem.invalid("body", "must be a JSON object, found \(json.typeName)") }
        return object
    }

    /// Whether a body is empty or only whitespace: an optional body that was left out.
    static func isBlank(_ bytes: [UInt8]) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
    }

    /// A fault for every member of `object` that `what` does not have: a typo is named, not ignored.
    static func unknownFields(_ object: JSONObject, allowed: [String], of what: String) -> [Problem.FieldError] {
        object.keys.filter { !allowed.contains($0) }.map { .init($0, "is not a field of \(what) (\(allowed.joined(separator: ", ")))") }
    }

    /// What a write asked, for telling its replay from another request under the same key or
    /// reference: the route and the body.
    static func hash(_ route: String, _ body: [UInt8]) -> [UInt8] {
        Digest.sha256(Array("\(route)\n".utf8) + body)
    }
}

extension Problem {
    /// Every field at fault in one answer: a client fixes them all at once.
    static func invalidFields(_ title: String, _ errors: [FieldError]) -> Problem {
        Problem(.unprocessableContent, type: "invalid-field", title: title,
                detail: errors.map { "\($0.field) \($0.message)" }.joined(separator: "; "), errors: errors)
    }
}

/// A JSON answer: the one place a domain value leaves as `application/json`.
/// The `Idempotency-Key` header of a write: 1 to 200 characters, or absent.
enum IdempotencyKeyHeader {
    static func read(_ request: Request) throws -> String? {
        let key = request.headers[.init("Idempotency-Key")!]
        if let key, key.isEmpty || key.count > 200 { throw Problem.invalid("Idempotency-Key", "must be 1 to 200 characters") }
        return key
    }
}

enum JSONResponse {
    /// 201 with a write's answer, or its stored answer again, marked `Idempotent-Replayed`.
    static func make(_ answer: WriteAnswer) -> Response {
        switch answer {
        case .created(let body): make(.created, bytes: body)
        case .replayed(let status, let body): make(HTTPResponse.Status(code: status), bytes: body, headers: [.init("Idempotent-Replayed")!: "true"])
        }
    }

    static func make(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        make(status, bytes: JSONWriter.bytes(value), headers: headers)
    }

    static func make(_ status: HTTPResponse.Status, bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Serving a pass: its content type, `Last-Modified`, and 304 when the device has it already,
/// decided before the pass is built or signed.
enum PassDownload {
    /// HTTP dates have one-second resolution, and a card can change twice within one second (an
    /// earn and a redemption at the till). A copy served in the very second of its change
    /// therefore says it is from the second before: any later change, even in that second, is
    /// then newer than the device's copy, and the device gets it. A copy served later says the
    /// second of the change, and is answered 304 from then on while the card stays as it is.
    static func response(for card: Cards.Card, request: Request, now: Int64 = Int64(Date.now.timeIntervalSince1970 * 1000),
                         pass: () async throws -> [UInt8]) async throws -> Response {
        let (notModified, lastModified) = freshness(updatedAt: card.updatedAt, ifModifiedSince: request.headers[.ifModifiedSince], now: now)
        if notModified { return Response(status: .notModified, headers: [.lastModified: lastModified]) }
        return Response(
            status: .ok,
            headers: [.contentType: "application/vnd.apple.pkpass", .lastModified: lastModified,
                      .contentDisposition: "attachment; filename=\"pass.pkpass\"", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: try await pass()))
        )
    }

    /// Whether the client's copy is current, and the `Last-Modified` to send (times in ms).
    static func freshness(updatedAt: Int64, ifModifiedSince: String?, now: Int64) -> (notModified: Bool, lastModified: String) {
        let modifiedSecond = updatedAt / 1000
        let lastModified = HTTPDate.format(now / 1000 > modifiedSecond ? modifiedSecond : modifiedSecond - 1)
        guard let since = ifModifiedSince.flatMap(HTTPDate.parse) else { return (false, lastModified) }
        return (modifiedSecond <= since, lastModified)
    }
}
