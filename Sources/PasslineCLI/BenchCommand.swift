import ApplePass
import ArgumentParser
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each measured next to its ceiling in the same run.",
        subcommands: [BuildBench.self]
    )
}

struct BuildBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build N distinct signed passes and compare with OpenSSL's RSA-2048 signing rate on the same key and cores.",
        discussion: "With --json the last line is {\"passes\", \"seconds\", \"passesPerSecond\", \"signaturesPerSecond\", \"ratio\", …}."
    )

    @Option(help: "How many passes to build.")
    var count: Int = 2000

    @Option(help: "Threads (cores) to build on; signatures are measured on as many.")
    var jobs: Int = 1

    @Option(help: "Template folder.")
    var template: String = "PassTemplates/loyalty.pass"

    @Option(help: "Signing identity folder; by default a throwaway development identity made in memory.")
    var identity: String?

    @Flag(help: "Print the result as JSON on the last line.")
    var json = false

    @Flag(help: "Report resident memory as the run goes, to show it does not grow.")
    var memory = false

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive, found \(count).") }
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be 1 to 256, found \(jobs).") }
    }

    func run() throws {
        let loaded = try PassTemplate.load(folder: URL(commandLinePath: template))
        let signing: PassSigningIdentity
        if let identity {
            signing = try PassSigningIdentity.load(directory: URL(commandLinePath: identity))
        } else {
            signing = try DevelopmentIdentity.generate(passTypeIdentifier: "pass.dev.passline.bench", teamIdentifier: "BENCH00001").signingIdentity()
        }
        var lastReported = 0
        let benchmark = BuildBenchmark(template: loaded, builder: PassBuilder(identity: signing), count: count, jobs: jobs)
        let result = try benchmark.run { built, rss in
            if memory || built - lastReported >= count / 10 || built == count {
                Console.error("built \(built)/\(count)" + (memory ? String(format: ", resident %.1f MiB", rss) : ""))
                lastReported = built
            }
        }
        print(String(format: "%d passes (%@ template, %d job%@) in %.2f s: %.0f passes/s", result.passes, loaded.name, jobs, jobs == 1 ? "" : "s", result.seconds, result.passesPerSecond))
        print(String(format: "OpenSSL RSA-%d signatures, same key, same cores, same run: %.0f/s", signing.signerKey.bits, result.signaturesPerSecond))
        print(String(format: "ratio passes/signatures: %.3f", result.ratio))
        print(String(format: "resident memory: %.1f MiB after warm-up, %.1f MiB at the end", result.rssStartMiB, result.rssEndMiB))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
    }
}
