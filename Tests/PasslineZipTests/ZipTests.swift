import Foundation
import PasslineZip
import Testing

@Suite("Zip archives in memory")
struct ZipTests {
    let text = Array(String(repeating: "Passline keeps loyalty cards live. ", count: 200).utf8)
    let noise: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }

    @Test("what is written reads back the same, deflated or stored")
    func roundTrip() throws {
        let writer = try ZipWriter()
        try writer.add("a.txt", text)
        try writer.add("dir/b.bin", noise, compress: false)
        try writer.add("empty", [])
        let bytes = try writer.finish()

        let reader = try ZipReader(bytes: bytes)
        #expect(reader.entries.map(\.name) == ["a.txt", "dir/b.bin", "empty"])
        #expect(try reader.read(named: "a.txt") == text)
        #expect(try reader.read(named: "dir/b.bin") == noise)
        #expect(try reader.read(named: "empty") == [])
        #expect(reader.entry(named: "a.txt")!.isCompressed)
        #expect(reader.entry(named: "a.txt")!.compressedSize < text.count / 10)
        #expect(!reader.entry(named: "dir/b.bin")!.isCompressed)
    }

    @Test("an archive started with precompressed entries keeps them as they were compressed and adds after them")
    func precompressed() throws {
        let entries = try PrecompressedEntries([("a.txt", text), ("b.bin", noise)])
        let template = try ZipReader(bytes: try ZipWriter(startingWith: entries).finish())
        #expect(template.entries.map(\.name) == ["a.txt", "b.bin"])
        for round in 0..<3 {
            let writer = try ZipWriter(startingWith: entries)
            try writer.add("pass.json", Array("{\"round\":\(round)}".utf8), compress: false)
            let reader = try ZipReader(bytes: try writer.finish())
            #expect(reader.entries.map(\.name) == ["a.txt", "b.bin", "pass.json"])
            #expect(try reader.read(named: "pass.json") == Array("{\"round\":\(round)}".utf8))
            #expect(try reader.read(named: "a.txt") == text)
            #expect(try reader.read(named: "b.bin") == noise)
            #expect(reader.entry(named: "a.txt")!.compressedSize == template.entry(named: "a.txt")!.compressedSize)
            #expect(reader.entry(named: "b.bin")!.isCompressed == template.entry(named: "b.bin")!.isCompressed)
        }
    }

    @Test("replacing an entry of the base rewrites it and what follows, and leaves the base alone")
    func replaceInBase() throws {
        let entries = try PrecompressedEntries([("a.txt", text), ("b.bin", noise), ("c.txt", Array("third".utf8))])
        let before = try ZipWriter(startingWith: entries).finish()
        let writer = try ZipWriter(startingWith: entries)
        try writer.add("b.bin", Array("replaced".utf8))
        try writer.add("d.txt", Array("fourth".utf8), compress: false)
        let reader = try ZipReader(bytes: try writer.finish())
        #expect(reader.entries.map(\.name) == ["a.txt", "b.bin", "c.txt", "d.txt"])
        #expect(try reader.read(named: "a.txt") == text)
        #expect(try reader.read(named: "b.bin") == Array("replaced".utf8))
        #expect(try reader.read(named: "c.txt") == Array("third".utf8))
        #expect(try reader.read(named: "d.txt") == Array("fourth".utf8))
        // The base is shared by every writer: nothing written may land in it.
        #expect(try ZipWriter(startingWith: entries).finish() == before)
    }

    @Test("precompressed entries shared by writers on many threads, some discarded unfinished, come out right every time")
    func precompressedConcurrently() async throws {
        let entries = try PrecompressedEntries([("a.txt", text), ("b.bin", noise)])
        let base = try ZipWriter(startingWith: entries).finish()
        let text = self.text, noise = self.noise
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for round in 0..<50 {
                        let writer = try ZipWriter(startingWith: entries)
                        try writer.add("pass.json", Array("{\"worker\":\(worker),\"round\":\(round)}".utf8))
                        if round % 7 == 3 { continue }
                        let reader = try ZipReader(bytes: try writer.finish())
                        #expect(try reader.read(named: "pass.json") == Array("{\"worker\":\(worker),\"round\":\(round)}".utf8))
                        #expect(try reader.read(named: "a.txt") == text)
                        #expect(try reader.read(named: "b.bin") == noise)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try ZipWriter(startingWith: entries).finish() == base)
    }

    @Test("other bytes are not a zip")
    func notAZip() {
        #expect(throws: ZipError.self) { try ZipReader(bytes: Array("this is not a zip file at all".utf8)) }
        #expect(throws: ZipError.self) { try ZipReader(bytes: []) }
    }

    @Test("damaged data is caught by the CRC check")
    func damaged() throws {
        let writer = try ZipWriter()
        try writer.add("a.bin", noise, compress: false)
        var bytes = try writer.finish()
        // The stored data starts after the 30-byte local header and the name.
        bytes[30 + "a.bin".utf8.count + 100] ^= 0xFF
        let reader = try ZipReader(bytes: bytes)
        #expect(throws: ZipError.self) { try reader.read(named: "a.bin") }
    }

    @Test("limits stop archives that hold or expand to too much")
    func limits() throws {
        let writer = try ZipWriter()
        for i in 0..<20 { try writer.add("f\(i)", text) }
        let bytes = try writer.finish()
        #expect(throws: ZipError.self) { try ZipReader(bytes: bytes, limits: ZipLimits(maxEntries: 10)) }
        do {
            _ = try ZipReader(bytes: bytes, limits: ZipLimits(maxTotalSize: 50_000))
            Issue.record("a 140 KB archive passed a 50 KB limit")
        } catch let error as ZipError {
            #expect(error.code == .tooLarge)
            #expect(error.message.contains("50000"))
        }
    }

    @Test("a missing entry is named")
    func missing() throws {
        let writer = try ZipWriter()
        try writer.add("a", [1])
        let reader = try ZipReader(bytes: try writer.finish())
        #expect(throws: ZipError(.missingEntry, "The archive has no b.")) { try reader.read(named: "b") }
    }

    @Test("a finished writer refuses more work")
    func finished() throws {
        let writer = try ZipWriter()
        _ = try writer.finish()
        #expect(throws: ZipError.self) { try writer.add("late", [1]) }
    }
}
