import Foundation

/// What to do with an APNs answer, as Apple documents its status codes and reasons.
public enum APNsOutcome: Sendable, Equatable {
    /// 200: delivered; `apns-id` kept.
    case delivered(apnsID: String?)
    /// 400 `BadDeviceToken` / `DeviceTokenNotForTopic`: the registration is useless; remove it.
    case removeRegistration(reason: String)
    /// 410 `Unregistered`: the device dropped the pass at `since` (ms); remove the registration
    /// unless the device registered again after that.
    case unregistered(since: Int64?)
    /// A request APNs will never accept (our bug or configuration): dead-letter with the reason.
    case deadLetter(reason: String)
    /// 403 certificate problems: retries would burn; pause the tenant's pushes until its
    /// certificate is replaced.
    case pauseTenant(reason: String)
    /// 429 for this device token: back off long.
    case throttled(reason: String)
    /// 5xx, a broken connection, a timeout: retry with backoff on a fresh stream.
    case retry(reason: String)

    /// APNs' 400 reasons for a request that is wrong as sent (Apple's list, less IdleTimeout and
    /// the token reasons, which are handled on their own).
    static let permanentRequestErrors: Set<String> = [
        "BadCollapseId", "BadExpirationDate", "BadMessageId", "BadPriority", "BadTopic", "DuplicateHeaders", "InvalidPushType",
        "MissingDeviceToken", "MissingTopic", "PayloadEmpty", "TopicDisallowed", "BadPath",
    ]

    public static func classify(status: Int, body: [UInt8], apnsID: String?) -> APNsOutcome {
        if status == 200 { return .delivered(apnsID: apnsID) }
        let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        let reason = json?["reason"] as? String ?? "HTTP \(status)"
        switch (status, reason) {
        case (400, "BadDeviceToken"), (400, "DeviceTokenNotForTopic"): return .removeRegistration(reason: reason)
        case (410, _):
            let timestamp = (json?["timestamp"] as? NSNumber)?.int64Value
            return .unregistered(since: timestamp)
        case (403, "BadCertificate"), (403, "BadCertificateEnvironment"), (403, "Forbidden"), (403, "MissingProviderToken"):
            return .pauseTenant(reason: "APNs refused the tenant's certificate (\(reason)); replace the Pass Type ID certificate to resume pushes")
        case (429, _): return .throttled(reason: reason)
        case (500..<600, _): return .retry(reason: "\(status) \(reason)")
        case (403, _): return .pauseTenant(reason: "APNs answered 403 \(reason); check the tenant's Pass Type ID certificate")
        // The connection sat idle too long on APNs' side: nothing wrong with the push.
        case (400, "IdleTimeout"): return .retry(reason: "400 IdleTimeout")
        // Requests APNs will never accept as sent: retrying cannot help; the reason says what to fix.
        case (400, let known) where Self.permanentRequestErrors.contains(known): return .deadLetter(reason: "400 \(known)")
        case (404, "BadPath"), (405, _), (413, _): return .deadLetter(reason: "\(status) \(reason)")
        // An answer Apple does not document (yet): retried, within the job's attempts, rather
        // than dropped on the first sight of something new.
        default: return .retry(reason: "\(status) \(reason) (not an answer APNs documents; retried)")
        }
    }
}
