import ArgumentParser
import Foundation
import PasslineQR

struct QRCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr",
        abstract: "Write a QR code as SVG or PNG.",
        discussion: "The text is encoded as UTF-8 (byte mode). Text over the capacity of the level is an error that names the limit."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case svg, png }

    @Argument(help: "The text to encode.")
    var text: String

    @Option(help: "svg or png.")
    var format: Format

    @Option(help: "Pixels a module (PNG), or the size the SVG asks for.")
    var scale: Int = 8

    @Option(help: "Error correction: L, M, Q or H.")
    var level: String = "M"

    @Option(help: "Where to write the image.")
    var out: String

    func validate() throws {
        guard (1...64).contains(scale) else { throw ValidationError("--scale must be 1 to 64, found \(scale).") }
        guard QRCode.Level(rawValue: level.uppercased()) != nil else { throw ValidationError("--level must be L, M, Q or H, found \"\(level)\".") }
    }

    func run() throws {
        let code = try QRCode(text, level: QRCode.Level(rawValue: level.uppercased())!)
        let bytes: [UInt8] = switch format {
        case .png: try code.png(scale: scale)
        case .svg: Array(code.svg(pixelsPerModule: scale).utf8)
        }
        let url = URL(commandLinePath: out)
        do { try Data(bytes).write(to: url, options: .atomic) } catch {
            throw ValidationError("\(url.path) cannot be written: \(error.localizedDescription)")
        }
        print("Wrote \(url.path): QR version \(code.version), level \(code.level.rawValue), \(code.size)×\(code.size) modules.")
    }
}
