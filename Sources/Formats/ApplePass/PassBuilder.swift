import Foundation
import PasslineCrypto
import PasslineJSON
import PasslineZip

/// Builds signed `.pkpass` packages with one signing identity.
///
/// Per pass it renders pass.json, hashes it, finishes the manifest, signs the manifest, and
/// zips the three with the template's precompressed assets. Everything else was done when the
/// template was loaded. Safe to use from many threads at once.
public struct PassBuilder: Sendable {
    public let identity: PassSigningIdentity

    public init(identity: PassSigningIdentity) { self.identity = identity }

    /// The three files that make a pass what it is, before zipping.
    public struct Parts: Sendable {
        public let passJSON: [UInt8]
        public let manifest: [UInt8]
        public let signature: [UInt8]
    }

    /// Builds one pass.
    /// - Parameters:
    ///   - template: a loaded template.
    ///   - card: the card's values.
    ///   - modified: the time written into the zip entries.
    /// - Returns: the `.pkpass` bytes.
    /// - Throws: `PassError.invalidCardData` when the card does not fit the template,
    ///   `.buildFailed` when signing or zipping fails.
    public func build(template: PassTemplate, card: CardData, modified: Date = Date()) throws -> [UInt8] {
        let parts = try render(template: template, card: card)
        do {
            let zip = try ZipWriter(startingWith: card.personalized ? template.personalized?.assets ?? template.assets : template.assets, modified: modified)
            // Stored, not deflated: each deflate sets up ~256 KB of zlib state, which cost more
            // than all the other zip work together (`bench build`, BENCHMARKS.md), to save
            // about 1 KB on a pass of 100 KB and more.
            try zip.add("pass.json", parts.passJSON, compress: false)
            try zip.add("manifest.json", parts.manifest, compress: false)
            try zip.add("signature", parts.signature, compress: false)
            return try zip.finish()
        } catch let error as ZipError {
            throw PassError(.buildFailed, "The pass \(card.serialNumber) could not be zipped: \(error)")
        }
    }

    /// Renders and signs a pass's pass.json, manifest and signature without zipping them.
    public func render(template: PassTemplate, card: CardData) throws -> Parts {
        try card.validate()
        for key in template.latin1BarcodeKeys {
            if case .string(let text)? = card.values[key], let bad = text.unicodeScalars.first(where: { $0.value > 0xFF }) {
                throw PassError(.invalidCardData, "\(key) \"\(text.prefix(40))\" has \"\(bad)\", which the template's barcode (messageEncoding iso-8859-1) cannot carry; use a template whose barcode says \"utf-8\", or a \(key) in Latin letters.")
            }
        }
        var values = card.values
        values["serialNumber"] = .string(card.serialNumber)
        let passJSON = try template.passJSON.render(values: values, marker: card.marker.map { $0 + " · " }) { out in
            writeBuilderKeys(card: card, template: template, into: &out)
        }

        var manifest = card.personalized ? template.personalized?.manifestPrefix ?? template.manifestPrefix : template.manifestPrefix
        manifest.append(contentsOf: #""pass.json":""#.utf8)
        manifest.append(contentsOf: Digest.hex(Digest.sha1(passJSON)).utf8)
        manifest.append(contentsOf: #""}"#.utf8)

        let signature: [UInt8]
        do { signature = try identity.signer.sign(manifest) } catch {
            throw PassError(.buildFailed, "The pass \(card.serialNumber) could not be signed: \(error)")
        }
        return Parts(passJSON: passJSON, manifest: manifest, signature: signature)
    }

    private func writeBuilderKeys(card: CardData, template: PassTemplate, into out: inout [UInt8]) {
        func member(_ key: String, _ value: JSONValue, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            JSONWriter.write(value, into: &out)
        }
        member("passTypeIdentifier", .string(identity.passTypeIdentifier), first: true)
        member("teamIdentifier", .string(identity.teamIdentifier))
        member("serialNumber", .string(card.serialNumber))
        if let token = card.authenticationToken, let url = card.webServiceURL {
            member("authenticationToken", .string(token))
            member("webServiceURL", .string(url))
        }
        if let voided = card.voided.map(JSONValue.bool) ?? template.passJSON.overridable["voided"] {
            member("voided", voided)
        }
        if let expiration = card.expirationDate.map(JSONValue.string) ?? template.passJSON.overridable["expirationDate"] {
            member("expirationDate", expiration)
        }
        for key in ["relevantDate", "relevantDates", "locations", "maxDistance"] {
            if let value = card.passKeys[key] ?? template.passJSON.overridable[key] { member(key, value) }
        }
        // A card's stage (its `expiryStage` value) picks its colours where the template names them.
        let stage = card.values[StageColors.stageKey]?.stringValue.flatMap { template.stageColors.stages[$0] } ?? [:]
        for key in StageColors.keys {
            if let color = stage[key].map(JSONValue.string) ?? template.passJSON.overridable[key] { member(key, color) }
        }
        if let marker = card.marker, !template.passJSON.hasLogoText {
            member("logoText", .string(marker))
        }
    }
}
