import Hummingbird
import PasslineService

/// `POST /google/v1/callbacks`: where each class's `callbackOptions.url` points. Google signs
/// each report; without a key of ours, the signature is the only proof, and the domain checks it.
struct GoogleReportRoutes<Context: RequestContext>: Sendable {
    let reports: GoogleWalletReports

    func addRoutes(to router: Router<Context>) {
        router.post("google/v1/callbacks", use: receive)
    }

    @Sendable func receive(_ request: Request, context: Context) async throws -> Response {
        let body = try await RequestBody.bytes(request, limit: 64 * 1024)
        switch try await reports.receive(body) {
        case .counted(let tenant, let serial, let saved):
            context.logger.info("google wallet report", metadata: ["tenant.id": .string(tenant), "card.serial": .string(serial),
                                                                  "google.event": .string(saved ? "save" : "del")])
        case .repeated:
            break
        case .unknownObject:
            // Nothing to count, and nothing Google should retry.
            context.logger.notice("google wallet report for an object no card has")
        }
        return Response(status: .ok)
    }
}
