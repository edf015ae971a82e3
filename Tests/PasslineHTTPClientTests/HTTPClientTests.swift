import Foundation
import PasslineAPNsSim
import PasslineHTTPClient
import PasslineTestSupport
import Testing

/// The libcurl client against the APNs stand-in: real HTTP/2 over TLS with client certificates.
@Suite("HTTP/2 client over libcurl, against the APNs stand-in")
struct HTTPClientTests {
    static let credentials = try! StandInCredentials.generate()
    static let caFile: String = {
        let file = TestSupport.temporaryFolder().appendingPathComponent("stand-in-ca.pem")
        TestSupport.write(credentials.authorityPEM, to: file)
        return file.path
    }()
    static let identity = ClientIdentity(
        certificatePEM: TestSupport.identity.certificate.pemBytes + TestSupport.identity.intermediate.pemBytes,
        keyPEM: try! TestSupport.identity.key.pemBytes()
    )
    static let token = String(repeating: "ab", count: 32)

    func simulator(allowAnonymous: Bool = false) async throws -> APNsSimulator {
        try await APNsSimulator.start(.init(certificateChainPEM: Self.credentials.certificateChainPEM, keyPEM: Self.credentials.keyPEM,
                                            clientCAPEM: TestSupport.identity.root.pemBytes, allowAnonymous: allowAnonymous))
    }

    func push(_ port: Int, token: String = token, topic: String = "pass.dev.passline.tests", timeout: Int = 10_000, identity: ClientIdentity? = identity) -> HTTPRequest {
        HTTPRequest(method: "POST", url: "https://127.0.0.1:\(port)/3/device/\(token)",
                    headers: [("apns-topic", topic), ("apns-expiration", "1900000000")], body: Array("{}".utf8),
                    timeoutMilliseconds: timeout, identity: identity)
    }

    @Test("200 concurrent requests share a connection or two over HTTP/2, each with the client certificate")
    func multiplexing() async throws {
        let sim = try await simulator()
        let client = HTTPClient(configuration: .init(caFile: Self.caFile))
        let statuses = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<200 { group.addTask { let r = try await client.send(push(sim.port)); return (r.status, r.httpVersion) } }
            return try await group.reduce(into: [(Int, Int)]()) { $0.append($1) }
        }
        #expect(statuses.count == 200 && statuses.allSatisfy { $0 == (200, 2) })
        let pushes = sim.pushes()
        #expect(pushes.count == 200)
        #expect(pushes.allSatisfy { $0.certificateTopic == "pass.dev.passline.tests" && $0.body == Array("{}".utf8) && $0.expiration == "1900000000" })
        #expect(sim.connections() <= 2, "streams are multiplexed, not a connection each: \(sim.connections())")
        // Kept open: more requests later reuse it.
        _ = try await client.send(push(sim.port))
        #expect(sim.connections() <= 2)
        client.shutdown()
        await sim.stop()
    }

    @Test("GOAWAY: the connection is replaced, and only the streams the server did not process are sent again")
    func goAway() async throws {
        let sim = try await simulator()
        sim.update { $0.goAwayEvery = 100 }
        let client = HTTPClient(configuration: .init(caFile: Self.caFile))
        let tokens = (0..<300).map { String(format: "%064x", $0) }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for token in tokens { group.addTask { try await client.send(push(sim.port, token: token)).status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.count == 300 && statuses.allSatisfy { $0 == 200 })
        let pushes = sim.pushes().map(\.token)
        // Each processed exactly once: a stream past the GOAWAY was retried, a processed one was not.
        #expect(pushes.count == 300 && Set(pushes) == Set(tokens), "\(pushes.count) processed for 300 requests")
        #expect(sim.stats().goAways >= 2 && sim.connections() >= 3, "goaways \(sim.stats().goAways), connections \(sim.connections())")
        client.shutdown()
        await sim.stop()
    }

    @Test("a retired certificate's pool goes; a request with it later gets a new one")
    func retire() async throws {
        let sim = try await simulator()
        let client = HTTPClient(configuration: .init(caFile: Self.caFile))
        #expect(try await client.send(push(sim.port)).status == 200)
        #expect(client.poolCount == 1)
        client.retire(Self.identity, graceMilliseconds: 0)
        #expect(client.poolCount == 0)
        #expect(try await client.send(push(sim.port)).status == 200)
        #expect(client.poolCount == 1 && sim.connections() == 2)
        client.shutdown()
        await sim.stop()
    }

    @Test("APNs' error answers arrive as answers with their JSON reason")
    func errorAnswers() async throws {
        let sim = try await simulator()
        let client = HTTPClient(configuration: .init(caFile: Self.caFile))
        let gone = String(repeating: "cd", count: 32)
        sim.update { $0.unregistered[gone] = 1_700_000_000_000; $0.forbiddenTopics = [] }
        let bad = try await client.send(push(sim.port, token: "nothex"))
        #expect(bad.status == 400 && String(decoding: bad.body, as: UTF8.self) == #"{"reason":"BadDeviceToken"}"#)
        let unregistered = try await client.send(push(sim.port, token: gone))
        #expect(unregistered.status == 410 && String(decoding: unregistered.body, as: UTF8.self).contains(#""timestamp":1700000000000"#))
        let wrongTopic = try await client.send(push(sim.port, topic: "pass.other"))
        #expect(wrongTopic.status == 400 && String(decoding: wrongTopic.body, as: UTF8.self).contains("TopicDisallowed"))
        sim.update { $0.forbiddenTopics = ["pass.dev.passline.tests"] }
        #expect(try await client.send(push(sim.port)).status == 403)
        #expect(try await client.send(push(sim.port)).header("apns-id") != nil)
        client.shutdown()
        await sim.stop()
    }

    @Test("no client certificate, a timeout and a dropped connection are errors that say so")
    func failures() async throws {
        let sim = try await simulator()
        let client = HTTPClient(configuration: .init(caFile: Self.caFile))
        await #expect(throws: HTTPClientError.self) { try await client.send(push(sim.port, identity: nil)) }

        sim.update { $0.delayMilliseconds = 2_000 }
        do {
            _ = try await client.send(push(sim.port, timeout: 200))
            Issue.record("a 200 ms timeout against a 2 s delay must fail")
        } catch let error as HTTPClientError {
            #expect(error.code == .timeout, "\(error)")
        }
        sim.update { $0.delayMilliseconds = 0; $0.dropRate = 1 }
        do {
            _ = try await client.send(push(sim.port))
            Issue.record("a dropped connection must fail")
        } catch let error as HTTPClientError {
            #expect(error.code == .connection, "\(error)")
        }
        sim.update { $0.dropRate = 0 }
        #expect(try await client.send(push(sim.port)).status == 200, "a fresh connection after the drop")

        let untrusting = HTTPClient()
        do {
            _ = try await untrusting.send(push(sim.port))
            Issue.record("the stand-in's CA is not in the system store")
        } catch let error as HTTPClientError {
            #expect(error.code == .tls, "\(error)")
        }
        client.shutdown()
        untrusting.shutdown()
        await sim.stop()
    }

    @Test("at most maxInFlight requests are inside libcurl; the rest wait and then complete")
    func backPressure() async throws {
        let sim = try await simulator()
        sim.update { $0.delayMilliseconds = 20 }
        let client = HTTPClient(configuration: .init(caFile: Self.caFile, maxInFlight: 4))
        let count = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<40 { group.addTask { try await client.send(push(sim.port)).status } }
            return try await group.reduce(0) { $0 + ($1 == 200 ? 1 : 0) }
        }
        #expect(count == 40)
        client.shutdown()
        await #expect(throws: HTTPClientError.self) { try await client.send(push(sim.port)) }
        await sim.stop()
    }

    @Test("send(all:) answers every request in its own place, also across parts larger than maxInFlight, and no connection is refused as abuse")
    func batches() async throws {
        let sim = try await simulator()
        let bad = (0..<300).filter { $0 % 10 == 3 }.map { String(format: "%064x", $0) }
        sim.update { $0.badTokens = Set(bad) }
        let client = HTTPClient(configuration: .init(caFile: Self.caFile, maxInFlight: 64))
        let requests = (0..<300).map { push(sim.port, token: String(format: "%064x", $0)) }
        let answers = await client.send(all: requests)
        #expect(answers.count == 300)
        for (index, answer) in answers.enumerated() {
            let status = try answer.get().status
            #expect(status == (index % 10 == 3 ? 400 : 200), "request \(index) answered \(status)")
        }
        #expect(sim.pushes().count == 270)
        // A fan-out's worth at once: libcurl resets answered streams, which must not cost connections.
        // (Over 200 resets in 30 s is what swift-nio-http2 takes for an attack by default.)
        let many = (0..<600).map { push(sim.port, token: String(format: "%064x", 1_000 + $0), timeout: 60_000) }
        let fanOut = await HTTPClient(configuration: .init(caFile: Self.caFile, connectTimeoutMilliseconds: 60_000)).send(all: many)
        let failures = fanOut.compactMap { answer -> String? in
            switch answer {
            case .success(let response): response.status == 200 ? nil : "status \(response.status)"
            case .failure(let error): error.message
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failed, first: \(failures.first ?? "")")
        #expect(sim.stats().connectionsRefusedAsAbuse == 0)
        client.shutdown()
        #expect(await client.send(all: [push(sim.port)]).allSatisfy { if case .failure(let error) = $0 { error.code == .shutdown } else { false } })
        await sim.stop()
    }

    @Test("a fan-out spreads over the certificate's loops, each with its own connection; a trickle keeps to one loop")
    func loops() async throws {
        let sim = try await simulator()
        let client = HTTPClient(configuration: .init(caFile: Self.caFile, loopsPerIdentity: 2))
        #expect(try await client.send(push(sim.port)).status == 200)
        #expect(try await client.send(push(sim.port)).status == 200)
        #expect(client.statistics.loopsStarted == 1, "one request at a time needs one thread")
        #expect(sim.connections() == 1)
        let requests = (0..<400).map { push(sim.port, token: String(format: "%064x", $0)) }
        let answers = await client.send(all: requests)
        #expect(answers.allSatisfy { (try? $0.get().status) == 200 })
        #expect(Set(sim.pushes().map(\.token)).isSuperset(of: requests.map { String($0.url.split(separator: "/").last!) }))
        let statistics = client.statistics
        #expect(statistics.loopsStarted == 2 && statistics.requests == 402, "\(statistics)")
        // The second loop opens its own (libcurl may open its second one too while it waits for
        // the server's SETTINGS), within connectionsPerHost (2) a loop.
        #expect((2...3).contains(sim.connections()), "the second loop opened a connection of its own: \(sim.connections())")
        // The loops' threads carry their name to the kernel: top -H, perf and bench push's CPU
        // figures tell libcurl's work from the rest by it.
        let names = (try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")).compactMap {
            try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(names.filter { $0 == "passline-curl" }.count >= 2, "\(names)")
        client.shutdown()

        let single = HTTPClient(configuration: .init(caFile: Self.caFile, loopsPerIdentity: 1))
        let singleAnswers = await single.send(all: requests)
        let failures = singleAnswers.compactMap { answer -> String? in
            switch answer {
            case .success(let response): response.status == 200 ? nil : "status \(response.status)"
            case .failure(let error): "\(error)"
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of 400 failed, first: \(failures.first ?? "")")
        #expect(single.statistics.loopsStarted == 1 && single.statistics.requests == 400)
        single.shutdown()
        await sim.stop()
    }

    @Test("requests start as soon as a connection can take them: a cold fan-out and the streams a GOAWAY refused do not go out one per answer")
    func noWaitForStreams() async throws {
        let sim = try await simulator()
        // Every answer takes 200 ms: a client that started one waiting request per answer
        // (libcurl 7.88's pending list) would need 399 × 200 ms = 80 s for the last of 400.
        sim.update { $0.delayMilliseconds = 200 }
        func waits(_ answers: [Result<HTTPResponse, HTTPClientError>]) throws -> [Int] { try answers.map { try $0.get().waitedMilliseconds } }

        // What one cold request costs on this machine right now: connection, TLS, the answer.
        let probe = HTTPClient(configuration: .init(caFile: Self.caFile, loopsPerIdentity: 1))
        let clock = ContinuousClock()
        let cold = try await clock.measure { _ = try await probe.send(push(sim.port)) }
        probe.shutdown()
        let coldMilliseconds = Int(cold.components.seconds * 1000 + cold.components.attoseconds / 1_000_000_000_000_000)

        let client = HTTPClient(configuration: .init(caFile: Self.caFile, loopsPerIdentity: 1))
        let answers = await client.send(all: (0..<400).map { push(sim.port, token: String(format: "%064x", $0), timeout: 60_000) })
        let coldWaits = try waits(answers)
        // The first opens the connection; the rest start once it has answered.
        let bound = 2 * coldMilliseconds + 1_000
        #expect(coldWaits.max()! <= bound, "a request waited \(coldWaits.max()!) ms for a stream (a cold request takes \(coldMilliseconds) ms)")

        // Warm, with a GOAWAY after every 100: the refused streams go again on new connections,
        // one after another, without waiting their turn behind each other's answers.
        sim.update { $0.goAwayEvery = 100 }
        let refused = await client.send(all: (0..<400).map { push(sim.port, token: String(format: "%064x", 1_000 + $0), timeout: 60_000) })
        let refusedWaits = try waits(refused)
        #expect(refusedWaits.max()! <= 4 * bound, "a request waited \(refusedWaits.max()!) ms (a cold request takes \(coldMilliseconds) ms)")
        #expect(sim.stats().goAways >= 2)
        let tokens = sim.pushes().map(\.token)
        #expect(tokens.count == 801 && Set(tokens).count == 801, "each processed once: \(tokens.count) pushes")
        client.shutdown()
        await sim.stop()
    }

    @Test("a request's timeout counts from when it was sent, not from when it was handed over")
    func timeoutOnTheWire() async throws {
        let sim = try await simulator()
        sim.update { $0.delayMilliseconds = 300 }
        // One stream a connection and one connection: each request waits for the one before.
        let client = HTTPClient(configuration: .init(caFile: Self.caFile, maxConcurrentStreams: 1, connectionsPerHost: 1, loopsPerIdentity: 1))
        _ = try await client.send(push(sim.port))
        // Eight requests of 1 s timeout each, 300 ms on the wire each: the last waits about 2 s
        // for its turn, which must not count against it.
        let answers = await client.send(all: (0..<8).map { push(sim.port, token: String(format: "%064x", $0), timeout: 1_000) })
        let failures = answers.compactMap { answer -> String? in
            if case .failure(let error) = answer { return error.message } else { return nil }
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(try answers.map { try $0.get().waitedMilliseconds }.max()! >= 1_000, "the last request did wait its turn")
        client.shutdown()
        await sim.stop()
    }

    @Test("a reused handle carries nothing of its last request: a GET after a POST has no body, a POST after a GET has its own")
    func handleReuse() async throws {
        let sim = try await simulator()
        let client = HTTPClient(configuration: .init(caFile: Self.caFile))
        let url = "https://127.0.0.1:\(sim.port)/3/device/\(Self.token)"
        func request(_ method: String, _ body: String) -> HTTPRequest {
            HTTPRequest(method: method, url: url, headers: [("apns-topic", "pass.dev.passline.tests")], body: Array(body.utf8), identity: Self.identity)
        }
        // One at a time, so each request takes the handle the one before gave back.
        #expect(try await client.send(request("POST", "{}")).status == 200)
        #expect(try await client.send(request("GET", "")).status == 405)
        #expect(try await client.send(request("POST", #"{"second":true}"#)).status == 200)
        #expect(try await client.send(request("DELETE", "")).status == 405)
        #expect(try await client.send(request("POST", #"{"third":3}"#)).status == 200)
        #expect(sim.pushes().map { String(decoding: $0.body, as: UTF8.self) } == ["{}", #"{"second":true}"#, #"{"third":3}"#])
        #expect(sim.stats().rejected["MethodNotAllowed"] == 2)
        client.shutdown()
        await sim.stop()
    }
}
