import ApplePass
import Foundation
import PasslineSQL
import PasslineStore
import PasslineTestSupport
import PasslineZip
import Testing

@Suite("Points transactions, over HTTP")
struct TransactionTests {
    /// A server with the loyalty template and one card of 120 points.
    func setUp(_ kind: TestDatabase, wire: Bool = false) async throws -> (LiveServer, [String: String], String) {
        let server = try await LiveServer.start(kind, wire: wire)
        let key = ["Authorization": "Bearer \(server.tenantA.liveKey)"]
        let writer = try ZipWriter()
        for (name, bytes) in TestSupport.templateFiles("loyalty") { try writer.add(name, bytes) }
        _ = try await server.send("POST", "/api/v1/templates?name=lumen", bodyData: Data(try writer.finish()), headers: key)
        let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M","memberName":"N","points":120}"#, headers: key)
        return (server, key, try #require(created.json?["serialNumber"] as? String))
    }

    @Test("numbers at their limits are named and refused, never a crash; a balance never passes its maximum", arguments: TestDatabase.available)
    func numbersAtTheirLimits(kind: TestDatabase) async throws {
        let (server, key, serial) = try await setUp(kind)
        let path = "/api/v1/cards/\(serial)/transactions"
        for points in ["-9223372036854775808", "9223372036854775807", "1000000001", "-1000000001"] {
            let reply = try await server.send("POST", path, body: #"{"points":\#(points),"reason":"x"}"#, headers: key)
            #expect(reply.status == 422 && ((reply.json?["errors"] as? [[String: String]])?.first)?["field"] == "points", "\(points): \(reply.status)")
        }
        for amount in ["-1", "-9223372036854775808", "1e400", "\"5\""] {
            let reply = try await server.send("POST", path, body: #"{"points":1,"reason":"x","amount":\#(amount)}"#, headers: key)
            #expect((400...422).contains(reply.status), "amount \(amount): \(reply.status)")
        }
        for (query, field) in [("limit=99999999999999999999", "limit"), ("limit=-1", "limit"), ("before=-9223372036854775808x", "before")] {
            let reply = try await server.send("GET", path + "?" + query, headers: key)
            #expect(reply.status == 400 && (reply.json?["detail"] as? String)?.hasPrefix(field) == true, "\(query): \(reply.status)")
        }
        // A card at the largest balance takes no more: 409, and the balance is as it was.
        let rich = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"R","memberName":"N","points":999999999999}"#, headers: key)
        let richSerial = try #require(rich.json?["serialNumber"] as? String)
        let over = try await server.send("POST", "/api/v1/cards/\(richSerial)/transactions", body: #"{"points":5,"reason":"x"}"#, headers: key)
        #expect(over.status == 409 && (over.json?["detail"] as? String)?.contains("past the most a card may hold") == true, "\(over.status)")
        #expect(try await server.send("GET", "/api/v1/cards/\(richSerial)", headers: key).json?["points"] as? Int == 999_999_999_999)
        let tooRich = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"R2","memberName":"N","points":1000000000001}"#, headers: key)
        #expect(tooRich.status == 422)
        await server.stop()
    }

    @Test("earning and redeeming change the balance and version; over the balance is 409; the ledger keeps every entry", arguments: TestDatabase.available)
    func earnAndRedeem(kind: TestDatabase) async throws {
        let (server, key, serial) = try await setUp(kind)
        let path = "/api/v1/cards/\(serial)/transactions"
        let earned = try await server.send("POST", path, body: #"{"points":50,"reason":"Facial","amount":8500}"#, headers: key)
        #expect(earned.status == 201)
        #expect(earned.json?["points"] as? Int == 170 && earned.json?["version"] as? Int == 2)
        #expect((earned.json?["transaction"] as? [String: Any])?["amount"] as? Int == 8500)
        let tooMuch = try await server.send("POST", path, body: #"{"points":-500,"reason":"Reward"}"#, headers: key)
        #expect(tooMuch.status == 409)
        #expect((tooMuch.json?["detail"] as? String)?.contains("exceeds the balance of 170") == true)
        let redeemed = try await server.send("POST", path, body: #"{"points":-70,"reason":"Reward"}"#, headers: key)
        #expect(redeemed.json?["points"] as? Int == 100)
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json?["points"] as? Int == 100)

        let ledger = try await server.send("GET", path + "?limit=1", headers: key)
        let first = try #require((ledger.json?["transactions"] as? [[String: Any]])?.first)
        #expect(first["points"] as? Int == -70 && first["balanceAfter"] as? Int == 100)
        let next = try #require(ledger.json?["next"] as? String)
        let page2 = try await server.send("GET", path + next, headers: key)
        #expect((page2.json?["transactions"] as? [[String: Any]])?.first?["points"] as? Int == 50)
        #expect(try await server.send("GET", path, headers: ["Authorization": "Bearer \(server.tenantB.liveKey)"]).status == 404)
        await server.stop()
    }

    @Test("an Idempotency-Key replays the stored answer once; with another body it is 422; concurrent repeats apply once", arguments: TestDatabase.available)
    func idempotency(kind: TestDatabase) async throws {
        let (server, key, serial) = try await setUp(kind)
        let path = "/api/v1/cards/\(serial)/transactions"
        let headers = key.merging(["Idempotency-Key": "order-42"]) { $1 }
        let first = try await server.send("POST", path, body: #"{"points":10,"reason":"Visit"}"#, headers: headers)
        let again = try await server.send("POST", path, body: #"{"points":10,"reason":"Visit"}"#, headers: headers)
        #expect(first.status == 201 && again.status == 201 && first.body == again.body)
        let other = try await server.send("POST", path, body: #"{"points":99,"reason":"Visit"}"#, headers: headers)
        #expect(other.status == 422)
        #expect((other.json?["detail"] as? String)?.contains("order-42") == true)
        // The same key and body from the tenant's test key is not a replay of the live answer:
        // the test key sees no live card.
        let testKey = ["Authorization": "Bearer \(server.tenantA.testKey)", "Idempotency-Key": "order-42"]
        let fromTest = try await server.send("POST", path, body: #"{"points":10,"reason":"Visit"}"#, headers: testKey)
        #expect(fromTest.status == 404 && fromTest.body != first.body, "\(fromTest.status)")

        let burst = key.merging(["Idempotency-Key": "burst"]) { $1 }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 { group.addTask { try await server.send("POST", path, body: #"{"points":5,"reason":"Burst"}"#, headers: burst).status } }
            for try await status in group { #expect(status == 201) }
        }
        let card = try await server.send("GET", "/api/v1/cards/\(serial)", headers: key)
        #expect(card.json?["points"] as? Int == 135, "120 + 10 once + 5 once")
        await server.stop()
    }

    @Test("a serial with a NUL in the path is no card: 404, and the card it starts like keeps its balance", arguments: TestDatabase.available)
    func nulInSerial(kind: TestDatabase) async throws {
        let (server, key, serial) = try await setUp(kind)
        for path in ["/api/v1/cards/\(serial)%00x/transactions", "/api/v1/cards/\(serial)%00/transactions"] {
            let answer = try await server.send("POST", path, body: #"{"points":5,"reason":"Visit"}"#, headers: key)
            #expect(answer.status == 404, "\(path): \(answer.status)")
        }
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)%00x", headers: key).status == 404)
        #expect(try await server.send("PATCH", "/api/v1/cards/\(serial)%00x", body: #"{"memberName":"X"}"#, headers: key).status == 404)
        let card = try await server.send("GET", "/api/v1/cards/\(serial)", headers: key)
        #expect(card.json?["points"] as? Int == 120 && card.json?["version"] as? Int == 1 && card.json?["memberName"] as? String == "N")
        await server.stop()
    }

    @Test("concurrent transactions, applied together, add up exactly: every answer matches the ledger, keys apply once", arguments: TestDatabase.available)
    func concurrentTransactions(kind: TestDatabase) async throws {
        let (server, key, first) = try await setUp(kind)
        var serials = [first]
        for _ in 0..<3 {
            let created = try await server.send("POST", "/api/v1/cards", body: #"{"template":"lumen","memberId":"M","memberName":"N","points":120}"#, headers: key)
            serials.append(try #require(created.json?["serialNumber"] as? String))
        }
        // Per card: 12 earns of 3, 5 redemptions of 40 (some must fail, which depends on
        // the order), and 3 keys sent twice each.
        var requests: [(serial: String, points: Int, key: String?)] = []
        for serial in serials {
            requests += Array(repeating: (serial, 3, nil), count: 12) + Array(repeating: (serial, -40, nil), count: 5)
            for k in 0..<3 { requests += [(serial, 2, "\(serial)-k\(k)"), (serial, 2, "\(serial)-k\(k)")] }
        }
        let sent = requests.shuffled()
        let answers = try await withThrowingTaskGroup(of: (String, Int, Int, Data).self) { group in
            for request in sent {
                group.addTask {
                    let headers = request.key.map { key.merging(["Idempotency-Key": $0]) { $1 } } ?? key
                    let answer = try await server.send("POST", "/api/v1/cards/\(request.serial)/transactions",
                                                       body: #"{"points":\#(request.points),"reason":"Rush"}"#, headers: headers)
                    return (request.serial, request.points, answer.status, answer.body)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.allSatisfy { [201, 409].contains($0.2) }, "\(answers.map(\.2))")
        for serial in serials {
            let mine = answers.filter { $0.0 == serial }
            let applied = mine.filter { $0.2 == 201 }
            #expect(mine.filter { $0.2 == 409 }.allSatisfy { $0.1 == -40 })
            // A key's two requests answered alike: once applied, once replayed.
            let keyed = Set(applied.filter { $0.1 == 2 }.map(\.3))
            #expect(keyed.count == 3)
            let ledger = try await server.send("GET", "/api/v1/cards/\(serial)/transactions?limit=200", headers: key)
            let entries = try #require(ledger.json?["transactions"] as? [[String: Any]]).reversed()
            // The opening balance is the chain's first entry.
            #expect(entries.count == applied.count - 3 + 1, "each key's replay adds no entry")
            #expect(entries.first?["points"] as? Int == 120 && entries.first?["type"] as? String == "adjust")
            var balance = 0
            for entry in entries {
                balance += entry["points"] as? Int ?? 0
                #expect(entry["balanceAfter"] as? Int == balance, "the ledger is one chain per card")
            }
            #expect(balance >= 0)
            let card = try await server.send("GET", "/api/v1/cards/\(serial)", headers: key)
            #expect(card.json?["points"] as? Int == balance)
            #expect(card.json?["version"] as? Int == entries.count, "version 1 with the opening balance, one more per entry")
            // Every answer's balance is one the ledger passed through.
            let balances = Set(entries.compactMap { $0["balanceAfter"] as? Int })
            for answer in applied {
                let object = try JSONSerialization.jsonObject(with: answer.3) as? [String: Any]
                #expect(balances.contains(object?["points"] as? Int ?? -1))
            }
        }
        await server.stop()
    }

    @Test("a change reaches the device: the serial shows as updated, the new pass has the new balance and the same serial and token, pushes coalesce", arguments: TestDatabase.available)
    func reachesDevice(kind: TestDatabase) async throws {
        let (server, key, serial) = try await setUp(kind)
        let before = try await server.send("GET", "/api/v1/cards/\(serial)/pass.pkpass", headers: key)
        let oldPass = try #require(PassVerifier.verify([UInt8](before.body), trustAnchors: nil).passJSON)
        let token = try #require(oldPass["authenticationToken"]?.stringValue)
        let service = server.service(server.tenantA), passType = "pass.dev.passline.tests"
        let apple = ["Authorization": "ApplePass \(token)"]
        _ = try await server.send("POST", "\(service)/devices/phone/registrations/\(passType)/\(serial)", body: #"{"pushToken":"0a0b"}"#, headers: apple)
        let tag = try #require(try await server.send("GET", "\(service)/devices/phone/registrations/\(passType)").json?["lastUpdated"] as? String)

        for points in [5, 6, 7] {
            #expect(try await server.send("POST", "/api/v1/cards/\(serial)/transactions", body: #"{"points":\#(points),"reason":"Visit"}"#, headers: key).status == 201)
        }
        let changed = try await server.send("GET", "\(service)/devices/phone/registrations/\(passType)?passesUpdatedSince=\(tag)")
        #expect(changed.json?["serialNumbers"] as? [String] == [serial])
        let after = try await server.send("GET", "\(service)/passes/\(passType)/\(serial)", headers: apple)
        let newPass = try #require(PassVerifier.verify([UInt8](after.body), trustAnchors: [TestSupport.identity.root]).passJSON)
        #expect(newPass["serialNumber"] == oldPass["serialNumber"] && newPass["authenticationToken"] == oldPass["authenticationToken"])
        let primary = newPass["storeCard"]?["primaryFields"]?.arrayValue?.first
        #expect(primary?["value"] == .int(138))
        #expect(primary?["changeMessage"] == .string("You now have %@ points"), "the lock-screen text comes from the pass")
        // Three changes while nothing sent yet: one waiting push for the device.
        let jobs = try await server.database.withConnection { try $0.query("SELECT payload FROM jobs WHERE state = 'ready' AND kind = 'apns.push'", []) }
        #expect(jobs.count == 1)
        #expect(try jobs.first?.string("payload").contains(#""pushToken":"0a0b""#) == true)
        await server.stop()
    }

    @Test("bad transactions name the field and change nothing", arguments: TestDatabase.available)
    func badInput(kind: TestDatabase) async throws {
        let (server, key, serial) = try await setUp(kind)
        let path = "/api/v1/cards/\(serial)/transactions"
        for (body, status, detail) in [
            (#"{"points":0,"reason":"x"}"#, 422, "points must not be zero"),
            (#"{"points":"10","reason":"x"}"#, 422, "points must be an integer"),
            (#"{"points":10}"#, 422, "reason is required"),
            (#"{"points":10,"reason":"x","amount":-1}"#, 422, "amount must be zero or more"),
            (#"{"points":10,"reason":"x","amount":1.5}"#, 422, "amount must be zero or more"),
            ("nope", 400, "line 1"),
        ] {
            let reply = try await server.send("POST", path, body: body, headers: key)
            #expect(reply.status == status, "\(body)")
            #expect((reply.json?["detail"] as? String)?.contains(detail) == true, "\(body): \(String(decoding: reply.body, as: UTF8.self))")
        }
        #expect(try await server.send("POST", "/api/v1/cards/nope/transactions", body: #"{"points":1,"reason":"x"}"#, headers: key).status == 404)
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json?["points"] as? Int == 120)
        await server.stop()
    }
}

@Suite("Card changes, over HTTP")
struct CardChangeTests {
    @Test("PATCH, reissue and void make new versions that keep serial and token, reach the device, and a voided card takes no more", arguments: TestDatabase.available)
    func changes(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        let first = try #require(PassVerifier.verify([UInt8](try await server.send("GET", "/api/v1/cards/\(serial)/pass.pkpass", headers: key).body), trustAnchors: nil).passJSON)
        let token = try #require(first["authenticationToken"]?.stringValue)
        let service = server.service(server.tenantA), passType = "pass.dev.passline.tests"
        _ = try await server.send("POST", "\(service)/devices/phone/registrations/\(passType)/\(serial)", body: #"{"pushToken":"0a0b"}"#,
                                  headers: ["Authorization": "ApplePass \(token)"])

        let patched = try await server.send("PATCH", "/api/v1/cards/\(serial)", body: #"{"memberName":"Ada L.","fields":{"tier":"Platinum"}}"#, headers: key)
        #expect(patched.status == 200)
        #expect(patched.json?["version"] as? Int == 2 && patched.json?["memberName"] as? String == "Ada L.")
        let reissued = try await server.send("POST", "/api/v1/cards/\(serial)/reissue", headers: key)
        #expect(reissued.json?["version"] as? Int == 3)
        let pass = try #require(PassVerifier.verify([UInt8](try await server.send("GET", "\(service)/passes/\(passType)/\(serial)",
                                                                                    headers: ["Authorization": "ApplePass \(token)"]).body), trustAnchors: nil).passJSON)
        #expect(pass["serialNumber"] == first["serialNumber"] && pass["authenticationToken"] == first["authenticationToken"])
        #expect(pass["storeCard"]?["headerFields"]?.arrayValue?.first?["value"] == .string("Platinum"))

        let voided = try await server.send("POST", "/api/v1/cards/\(serial)/void", headers: key)
        #expect(voided.json?["voided"] as? Bool == true)
        let voidedPass = try #require(PassVerifier.verify([UInt8](try await server.send("GET", "/api/v1/cards/\(serial)/pass.pkpass", headers: key).body), trustAnchors: nil).passJSON)
        #expect(voidedPass["voided"] == .bool(true))
        let earn = try await server.send("POST", "/api/v1/cards/\(serial)/transactions", body: #"{"points":5,"reason":"x"}"#, headers: key)
        #expect(earn.status == 409 && (earn.json?["detail"] as? String)?.contains("voided") == true)
        #expect(try await server.send("PATCH", "/api/v1/cards/\(serial)", body: #"{"memberName":"Z"}"#, headers: key).status == 409)
        let jobs = try await server.database.withConnection { try $0.first("SELECT COUNT(*) AS n FROM jobs WHERE kind = 'apns.push'", [])!.int("n") }
        #expect(jobs == 1, "the device's pushes coalesced while none was sent")
        await server.stop()
    }

    @Test("bad changes name the field; another tenant's card is 404", arguments: TestDatabase.available)
    func badChanges(kind: TestDatabase) async throws {
        let (server, key, serial) = try await TransactionTests().setUp(kind)
        for (body, detail) in [
            (#"{}"#, "names nothing to change"),
            (#"{"points":5}"#, "points cannot be changed here"),
            (#"{"memberName":""}"#, "memberName must be 1 to 256"),
            (#"{"fields":{"tier":7}}"#, "tier must be a string"),
            (#"{"fields":{"x":[1]}}"#, "fields.x must be a single value"),
        ] {
            let reply = try await server.send("PATCH", "/api/v1/cards/\(serial)", body: body, headers: key)
            #expect(reply.status == 422, "\(body)")
            #expect((reply.json?["detail"] as? String)?.contains(detail) == true, "\(body): \(String(decoding: reply.body, as: UTF8.self))")
        }
        let other = ["Authorization": "Bearer \(server.tenantB.liveKey)"]
        #expect(try await server.send("PATCH", "/api/v1/cards/\(serial)", body: #"{"memberName":"Z"}"#, headers: other).status == 404)
        #expect(try await server.send("POST", "/api/v1/cards/\(serial)/void", headers: other).status == 404)
        #expect(try await server.send("GET", "/api/v1/cards/\(serial)", headers: key).json?["version"] as? Int == 1)
        await server.stop()
    }
}
