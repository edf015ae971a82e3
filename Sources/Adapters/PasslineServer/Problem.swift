import ApplePass
import Foundation
import GoogleWallet
import Hummingbird
import LoyaltyRules
import PasslineJSON
import PasslineService

/// A client error as RFC 9457 has it: `application/problem+json` with a stable `type`, a
/// title, the detail, and the fields at fault.
public struct Problem: HTTPResponseError, Sendable {
    public struct FieldError: Sendable, Equatable {
        public let field: String
        public let message: String
        public init(_ field: String, _ message: String) {
            self.field = field
            self.message = message
        }
    }

    public let status: HTTPResponse.Status
    /// A stable identifier of the kind of problem, e.g. `https://passline.dev/problems/invalid-json`.
    public let type: String
    public let title: String
    public let detail: String
    public let errors: [FieldError]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, type: String, title: String, detail: String, errors: [FieldError] = []) {
        self.status = status
        self.type = "https://passline.dev/problems/" + type
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body = JSONObject([
            ("type", .string(type)), ("title", .string(title)), ("status", .int(Int64(status.code))), ("detail", .string(detail)),
        ])
        // Always present, empty when no one field is at fault: INTERFACE.md gives it as part of the shape.
        body["errors"] = .array(errors.map { .object(JSONObject([("field", .string($0.field)), ("message", .string($0.message))])) })
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(.object(body)))))
    }

    static func invalidJSON(_ detail: String) -> Problem {
        Problem(.badRequest, type: "invalid-json", title: "The body is not valid JSON", detail: detail)
    }

    static func invalid(_ field: String, _ message: String) -> Problem {
        Problem(.unprocessableContent, type: "invalid-field", title: "A field is not valid", detail: "\(field) \(message)", errors: [FieldError(field, message)])
    }

    /// A path segment, query parameter or header the route cannot use: 400, naming it.
    static func invalidParameter(_ name: String, _ message: String) -> Problem {
        Problem(.badRequest, type: "invalid-parameter", title: "A parameter is not valid", detail: "\(name) \(message)", errors: [FieldError(name, message)])
    }

    static func notFound(_ what: String) -> Problem {
        Problem(.notFound, type: "not-found", title: "Not found", detail: what)
    }

    /// 429 with `Retry-After`: the caller may try again after `retryAfter` seconds.
    static func rateLimited(_ title: String, detail: String, retryAfter: Int) -> Problem {
        var problem = Problem(.tooManyRequests, type: "rate-limited", title: title, detail: detail)
        problem.headers[.retryAfter] = String(retryAfter)
        return problem
    }

    static func unauthorized(_ detail: String) -> Problem {
        Problem(.unauthorized, type: "unauthorized", title: "Not authorized", detail: detail)
    }
}

extension Problem {
    /// The one mapping from the domain's and the store's errors to problems: a client's mistake
    /// is a 4xx whichever handler let it through. nil for errors that are bugs (a 500).
    static func from(_ error: any Error) -> Problem? {
        switch error {
        case let problem as Problem:
            return problem
        case let error as DomainError:
            switch error.code {
            case .notFound: return Problem.notFound(error.message)
            case .conflict: return Problem(.conflict, type: "conflict", title: "Not possible in the current state", detail: error.message)
            case .invalid: return Problem(.unprocessableContent, type: "invalid-field", title: "A value is not valid", detail: error.message,
                                          errors: error.faults.map { FieldError($0.field, $0.message) })
            case .quotaExceeded: return Problem(.unprocessableContent, type: "quota-exceeded", title: "A limit of the tenant is reached", detail: error.message)
            default: return nil
            }
        case let error as GoogleWalletError:
            return Problem(.unprocessableContent, type: "invalid-google-settings", title: "The Google Wallet settings cannot be used", detail: error.message)
        case let error as PassError where error.code == .invalidIdentity:
            return Problem(.unprocessableContent, type: "invalid-identity", title: "The signing identity cannot be used", detail: error.message)
        case let error as PassError where error.code == .invalidTemplate || error.code == .invalidCardData:
            let errors = error.findings.errors.map { finding in
                Problem.FieldError(finding.field ?? finding.file, [finding.file, finding.field, finding.message].compactMap { $0 }.joined(separator: ": "))
            }
            return Problem(.unprocessableContent, type: error.code == .invalidTemplate ? "invalid-template" : "invalid-card-data",
                           title: error.code == .invalidTemplate ? "The template is not valid" : "The card does not fit its template",
                           detail: error.message, errors: errors)
        default:
            return nil
        }
    }
}

/// Every error leaves as a problem: client errors as they are, HTTP errors from the framework
/// (413, 404, …) in the same shape, and anything else logged in full and answered with a bare
/// 500 and a request id, so no internal detail reaches the caller.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let error as HTTPError {
            let detail = error.body ?? (error.status == .contentTooLarge ? "The request body is over the limit." : error.status.reasonPhrase)
            var problem = Problem(error.status, type: "http-\(error.status.code)", title: error.status.reasonPhrase, detail: detail)
            problem.headers = error.headers
            throw problem
        } catch let error as any HTTPResponseError {
            // Errors the framework maps to a status itself, such as a body over the limit (413).
            let detail = error.status == .contentTooLarge ? "The request body is over the limit." : error.status.reasonPhrase
            throw Problem(error.status, type: "http-\(error.status.code)", title: error.status.reasonPhrase, detail: detail)
        } catch {
            if let problem = Problem.from(error) { throw problem }
            let id = UUID().uuidString
            context.logger.error("request failed", metadata: ["request.id": .string(id), "error.message": .string(String(reflecting: error))])
            throw Problem(.internalServerError, type: "internal", title: "Internal error", detail: "Something went wrong on our side; request id \(id).")
        }
    }
}
