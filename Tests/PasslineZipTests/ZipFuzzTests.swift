import PasslineTestSupport
import PasslineZip
import Testing

@Suite("The zip reader under mutated archives")
struct ZipFuzzTests {
    @Test("a mutated archive opens or is refused with ZipError; what opens reads within its limits")
    func mutated() throws {
        let writer = try ZipWriter()
        try writer.add("pass.json", Array(#"{"formatVersion":1,"description":"{{memberName}}"}"#.utf8))
        try writer.add("icon.png", Array(repeating: 7, count: 300))
        try writer.add("en.lproj/pass.strings", Array("\"a\" = \"b\";".utf8))
        let archive = try writer.finish()
        let limits = ZipLimits(maxEntries: 10, maxTotalSize: 4_096)
        var fuzz = Fuzz()
        let seed = fuzz.seed
        var opened = 0
        fuzz.run(minimum: 300) { fuzz in
            let bytes = fuzz.int(0...9) == 0 ? fuzz.bytes(maxCount: 512) : fuzz.mutate(archive)
            do {
                let reader = try ZipReader(bytes: bytes, limits: limits)
                opened += 1
                var total = 0
                for entry in reader.entries {
                    if let content = try? reader.read(entry) { total += content.count }
                }
                #expect(total <= limits.maxTotalSize, "seed \(seed): read \(total) bytes past the limit")
            } catch {
                #expect(error is ZipError, "seed \(seed): \(error)")
            }
        }
        #expect(opened > 0, "seed \(seed): some mutations leave a readable archive")
    }
}
