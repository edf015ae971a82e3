import Foundation
import GoogleWallet
import PasslineCrypto
import PasslineJSON
import PasslineTestSupport
import Testing

@Suite("Google Wallet resources, save links and service-account keys")
struct GoogleWalletTests {
    static let key = try! PrivateKey.generateRSA()
    static let account = try! ServiceAccountKey(json: try! ServiceAccountKey.file(email: "passline@demo-project.iam.gserviceaccount.com", key: key, keyID: "k1"))

    static func card(_ message: TextModule? = nil, texts: Int = 1) -> LoyaltyCard {
        LoyaltyCard(objectID: "3388000000012345678.S1", classID: "3388000000012345678.tpl_A", state: .active, accountID: "M-1", accountName: "Zoë \"Z\" 🌸",
                    points: 120, pointsLabel: "Points", barcode: .init(type: "QR_CODE", value: "M-1", alternateText: "M-1"),
                    textModules: (0..<texts).map { TextModule(id: "t\($0)", header: "Terms \($0)", body: String(repeating: "Fine print. ", count: 20)) },
                    message: message, validUntil: nil)
    }

    @Test("a save link's JWT verifies with the service account's public key through the openssl command line, with Google's claim names")
    func saveLinkVerifiesWithOpenSSL() async throws {
        let url = try SaveLink.url(.skinny(objectID: "3388000000012345678.S1", classID: "3388000000012345678.tpl_A"), account: Self.account,
                                   origins: ["https://cards.example.com"], issuedAt: Date(timeIntervalSince1970: 1_790_000_000))
        #expect(url.hasPrefix("https://pay.google.com/gp/v/save/"))
        let jwt = String(url.dropFirst(SaveLink.base.count))
        #expect(jwt.count <= SaveLink.maxJWTLength)
        let parts = jwt.split(separator: ".").map(String.init)
        #expect(parts.count == 3)

        // An independent check: the openssl command line, not our wrapper.
        let folder = TestSupport.temporaryFolder()
        TestSupport.write(try Self.key.publicKeyPEM(), to: folder.appendingPathComponent("public.pem"))
        TestSupport.write(Array("\(parts[0]).\(parts[1])".utf8), to: folder.appendingPathComponent("input"))
        TestSupport.write(try #require(Base64URL.decode(parts[2])), to: folder.appendingPathComponent("signature"))
        let verified = try await TestSupport.run("/usr/bin/env", ["openssl", "dgst", "-sha256", "-verify", "public.pem", "-signature", "signature", "input"], in: folder)
        #expect(verified.status == 0 && verified.stdout.contains("Verified OK"), "\(verified.stdout) \(verified.stderr)")
        // A tampered token does not verify.
        TestSupport.write(Array("\(parts[0]).\(parts[1])x".utf8), to: folder.appendingPathComponent("input"))
        let tampered = try await TestSupport.run("/usr/bin/env", ["openssl", "dgst", "-sha256", "-verify", "public.pem", "-signature", "signature", "input"], in: folder)
        #expect(tampered.status != 0)

        let header = try #require(JSONParser.parse(Base64URL.decode(parts[0])!).objectValue)
        #expect(header["alg"] == .string("RS256") && header["typ"] == .string("JWT") && header["kid"] == .string("k1"))
        let claims = try #require(JSONParser.parse(Base64URL.decode(parts[1])!).objectValue)
        #expect(claims.keys == ["iss", "aud", "typ", "iat", "origins", "payload"])
        #expect(claims["iss"] == .string("passline@demo-project.iam.gserviceaccount.com"))
        #expect(claims["aud"] == .string("google") && claims["typ"] == .string("savetowallet"))
        #expect(claims["iat"] == .int(1_790_000_000))
        #expect(claims["origins"] == .array([.string("https://cards.example.com")]))
        let objects = try #require(claims["payload"]?["loyaltyObjects"]?.arrayValue)
        #expect(objects == [.object(JSONObject([("id", .string("3388000000012345678.S1")), ("classId", .string("3388000000012345678.tpl_A"))]))])
        // Our own verifier agrees, and refuses another key.
        #expect(try JWT.verifyRS256(jwt, key: PublicKey(pem: Self.key.publicKeyPEM())).claims == claims)
        #expect(throws: GoogleWalletError.self) { try JWT.verifyRS256(jwt, key: PublicKey(pem: PrivateKey.generateRSA().publicKeyPEM())) }
    }

    @Test("a fat link carries the object; one past 1,800 characters is refused with what to do instead")
    func fatLinks() throws {
        let small = try SaveLink.url(.fat(object: Self.card(texts: 0).json(), program: nil), account: Self.account, origins: [])
        let claims = try #require(JSONParser.parse(Base64URL.decode(String(small.split(separator: "/").last!).split(separator: ".").map(String.init)[1])!).objectValue)
        #expect(claims["payload"]?["loyaltyObjects"]?.arrayValue?.first?["accountName"] == .string("Zoë \"Z\" 🌸"))
        #expect {
            try SaveLink.url(.fat(object: Self.card(texts: 4).json(), program: nil), account: Self.account, origins: [])
        } throws: { error in
            guard let error = error as? GoogleWalletError, error.code == .linkTooLong else { return false }
            return error.message.contains("1800") && error.message.contains("skinny")
        }
    }

    @Test("the object and class use Google's field names and types")
    func resourceShapes() throws {
        let object = Self.card(TextModule(id: "message", header: "News", body: "Double points")).json(notification: .init(onUpdate: true, message: true))
        #expect(object["id"] == .string("3388000000012345678.S1") && object["classId"] == .string("3388000000012345678.tpl_A"))
        #expect(object["state"] == .string("ACTIVE"))
        #expect(object["accountId"] == .string("M-1") && object["accountName"] == .string("Zoë \"Z\" 🌸"))
        #expect(object["loyaltyPoints"]?["balance"]?["int"] == .int(120), "a balance is an integer under int")
        #expect(object["loyaltyPoints"]?["label"] == .string("Points"))
        #expect(object["barcode"]?["type"] == .string("QR_CODE") && object["barcode"]?["value"] == .string("M-1"))
        #expect(object["notifyPreference"] == .string("notifyOnUpdate"))
        #expect(object["messages"]?.arrayValue?.first?["messageType"] == .string("TEXT"), "a message notifies through addMessage, never in the object")
        let withheld = Self.card(TextModule(id: "message", header: "News", body: "Double points")).json(withholding: ["message"])
        #expect(withheld["messages"] == .array([]) && withheld["textModulesData"] != nil, "lists are sent even empty, so a PATCH clears them")
        #expect(object["textModulesData"]?.arrayValue?.first?["header"] == .string("Terms 0"))
        let quiet = Self.card().json()
        #expect(quiet["notifyPreference"] == nil)

        let program = LoyaltyProgram(classID: "3388000000012345678.tpl_A", issuerName: "Lumen Clinic", programName: "Lumen Rewards",
                                     logoURL: "https://cards.example.com/t/tpl_A/logo.png", backgroundColor: "#1c2a3a",
                                     links: [Link(id: "web", uri: "https://lumen.example", description: "Website")]).json()
        #expect(program["reviewStatus"] == .string("UNDER_REVIEW"), "a draft class cannot hold objects")
        #expect(program["programLogo"]?["sourceUri"]?["uri"] == .string("https://cards.example.com/t/tpl_A/logo.png"))
        #expect(program["hexBackgroundColor"] == .string("#1c2a3a"))
        #expect(program["linksModuleData"]?["uris"]?.arrayValue?.first?["uri"] == .string("https://lumen.example"))
    }

    @Test("object ids keep plain serials and encode the rest with Google's characters only, without collisions")
    func ids() throws {
        #expect(WalletIDs.objectID(issuer: "3388", serial: "AbC_9-x") == "3388.AbC_9-x")
        let odd = WalletIDs.objectID(issuer: "3388", serial: "a b/ü.")
        #expect(WalletIDs.isValid(odd, issuer: "3388") && odd.hasPrefix("3388..x"))
        #expect(WalletIDs.suffix("a.b") != WalletIDs.suffix("a_b") && WalletIDs.suffix(".x61") != WalletIDs.suffix("a"))
        #expect(throws: GoogleWalletError.self) { try WalletIDs.checkIssuer("my-issuer") }
        try WalletIDs.checkIssuer("3388000000012345678")
    }

    @Test("a broken service-account key file names what is wrong")
    func badKeyFiles() throws {
        func message(_ json: String) -> String {
            do { _ = try ServiceAccountKey(json: Array(json.utf8)); return "accepted" } catch { return "\(error)" }
        }
        let pem = String(decoding: try Self.key.pemBytes(), as: UTF8.self)
        let escaped = JSONWriter.string(.string(pem))
        #expect(message("").contains("is empty"))
        #expect(message("{").contains("is not JSON"))
        #expect(message("[]").contains("not a JSON object"))
        #expect(message(#"{"type":"authorized_user","client_email":"a@b","private_key":\#(escaped)}"#).contains("\"authorized_user\""))
        #expect(message(#"{"type":"service_account","private_key":\#(escaped)}"#).contains("client_email"))
        #expect(message(#"{"type":"service_account","client_email":"a@b"}"#).contains("private_key"))
        // A PEM block whose body is not a key (the armour built up, so no key-shaped text is committed).
        let block = "PRIVATE" + " KEY"
        #expect(message(#"{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN \#(block)-----\nAAAA\n-----END \#(block)-----\n"}"#).contains("does not load"))
        #expect(message(#"{"type":"service_account","client_email":"a@b","private_key":\#(escaped)}"#) == "accepted")
    }

    @Test("base64url round-trips every length and refuses foreign characters")
    func base64URL() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
        #expect(Base64URL.decode("ab+c") == nil && Base64URL.decode("a") == nil)
    }
}

@Suite("Google's signed save reports (ECv2SigningOnly)")
struct WalletCallbackTests {
    static let root = try! PrivateKey.generateP256()
    static let intermediate = try! PrivateKey.generateP256()
    static let issuer = "3388000000012345678"
    static var keys: WalletCallback.RootKeys {
        get throws {
            try WalletCallback.RootKeys(json: Array("""
                {"keys":[{"keyValue":"\(Base64Standard.encode(try root.publicKeyDER()))","protocolVersion":"ECv2SigningOnly","keyExpiration":"4102444800000"},
                         {"keyValue":"AAAA","protocolVersion":"ECv1"}]}
                """.utf8))
        }
    }

    func report(expiresAt: Int64 = 2_000_000_000_000) -> WalletCallback {
        WalletCallback(classID: "\(Self.issuer).loyalty", objectID: "\(Self.issuer).card-1", eventType: .save, nonce: "n1", expiresAt: expiresAt)
    }

    @Test("the signed strings are each part's little-endian 4-byte length and its bytes")
    func lengthValue() {
        #expect(WalletCallback.lengthValue(["ab", ""]) == [2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0])
        #expect(WalletCallback.lengthValue([String(repeating: "x", count: 300)]).prefix(4) == [0x2c, 0x01, 0, 0])
    }

    @Test("a sealed report opens for its issuer; the wrong issuer, an unknown root, an expired key or report do not")
    func roundTrip() throws {
        let now: Int64 = 1_900_000_000_000
        let body = try report().sealed(issuer: Self.issuer, rootKey: Self.root, intermediateKey: Self.intermediate, keyExpiresAt: now + 1000)
        #expect(try WalletCallback.open(body, issuer: Self.issuer, rootKeys: try Self.keys, now: now) == report())
        #expect(try WalletCallback.peek(body).objectID == "\(Self.issuer).card-1")
        func refusal(_ body: [UInt8], issuer: String = Self.issuer, now: Int64 = now) throws -> String {
            let keys = try Self.keys
            do { _ = try WalletCallback.open(body, issuer: issuer, rootKeys: keys, now: now); return "opened" } catch { return error.message }
        }
        #expect(try refusal(body, issuer: "3388000000099999999").contains("does not check for issuer"))
        #expect(try refusal(body, now: now + 1000).contains("intermediate signing key expired"))
        let stranger = try report().sealed(issuer: Self.issuer, rootKey: try PrivateKey.generateP256(), intermediateKey: Self.intermediate, keyExpiresAt: now + 1000)
        #expect(try refusal(stranger).contains("root keys"))
        let stale = try report(expiresAt: now).sealed(issuer: Self.issuer, rootKey: Self.root, intermediateKey: Self.intermediate, keyExpiresAt: now + 1000)
        #expect(try refusal(stale).contains("report expired"))
        let later = try WalletCallback(classID: "other.loyalty", objectID: "other.card", eventType: .delete, nonce: "n", expiresAt: now + 1)
            .sealed(issuer: Self.issuer, rootKey: Self.root, intermediateKey: Self.intermediate, keyExpiresAt: now + 1000)
        #expect(try refusal(later).contains("another issuer"), "a report for the issuer may only name its own objects")
    }

    @Test("key lists without a usable key, and RSA keys in them, are refused")
    func keyLists() throws {
        #expect(throws: GoogleWalletError.self) { try WalletCallback.RootKeys(json: Array(#"{"keys":[]}"#.utf8)) }
        #expect(throws: GoogleWalletError.self) { try WalletCallback.RootKeys(json: Array("[]".utf8)) }
        let rsa = Base64Standard.encode(try PrivateKey.generateRSA().publicKeyDER())
        #expect(throws: GoogleWalletError.self) {
            try WalletCallback.RootKeys(json: Array(#"{"keys":[{"keyValue":"\#(rsa)","protocolVersion":"ECv2SigningOnly"}]}"#.utf8))
        }
        #expect(Base64Standard.decode(Base64Standard.encode([1, 2, 3, 4])) == [1, 2, 3, 4] && Base64Standard.encode([0xfb, 0xff]) == "+/8=")
        #expect(Base64Standard.decode("a-b_") == nil && Base64Standard.decode("QQ===") == nil)
    }
}
