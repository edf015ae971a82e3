import ApplePass
import Foundation
import PasslineCrypto
import PasslineJSON
import PasslineTestSupport
import PasslineZip
import Testing

/// Loads a template from altered files and returns the error it gives.
func templateError(_ files: [String: [UInt8]], _ name: String = "broken") -> PassError? {
    do {
        _ = try PassTemplate(name: name, files: files)
        return nil
    } catch let error as PassError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

func loyaltyFiles(editing edit: (inout JSONObject) -> Void) -> [String: [UInt8]] {
    var files = TestSupport.templateFiles("loyalty")
    var document = try! JSONParser.parse(files["pass.json"]!).objectValue!
    edit(&document)
    files["pass.json"] = JSONWriter.bytes(.object(document))
    return files
}

let sampleCard = CardData(
    serialNumber: "LUM-0001",
    values: ["memberId": .string("M-100200"), "memberName": .string("Ada Lovelace"), "points": .int(1250), "tier": .string("Gold")],
    authenticationToken: "0123456789abcdef0123",
    webServiceURL: "https://passline.example/passkit/t1"
)

func builder() throws -> PassBuilder { PassBuilder(identity: try TestSupport.identity.signingIdentity()) }

/// A built pass's files, by name.
func unzip(_ pass: [UInt8]) throws -> [String: [UInt8]] {
    let reader = try ZipReader(bytes: pass)
    var files: [String: [UInt8]] = [:]
    for entry in reader.entries { files[entry.name] = try reader.read(entry) }
    return files
}

/// Rezips files into a package, to build tampered passes.
func zip(_ files: [String: [UInt8]]) throws -> [UInt8] {
    let writer = try ZipWriter()
    for (name, bytes) in files.sorted(by: { $0.key < $1.key }) { try writer.add(name, bytes) }
    return try writer.finish()
}

/// pass.json as Foundation reads it: an independent parser.
func foundationJSON(_ bytes: [UInt8]) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(bytes)) as! [String: Any]
}
