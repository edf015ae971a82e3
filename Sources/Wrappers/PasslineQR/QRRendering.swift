import Foundation
import PasslinePNG

extension QRCode {
    /// The light margin around the symbol that readers need, in modules.
    public static let quietZone = 4

    /// A PNG, 1-bit grayscale, `scale` pixels a module, with the quiet zone.
    /// - Throws: `PNGEncoder.EncodingError` when the image would be too large.
    public func png(scale: Int = 8) throws -> [UInt8] {
        let side = size + 2 * Self.quietZone
        return try PNGEncoder.blackAndWhite(columns: side, rows: side, scale: scale) { column, row in
            isDark(column - Self.quietZone, row - Self.quietZone)
        }
    }

    /// An SVG whose units are modules: it scales without blurring, the quiet zone included.
    /// Dark modules are drawn as one path of horizontal runs.
    /// - Parameters:
    ///   - foreground: the colour of dark modules (any SVG colour).
    ///   - background: the colour behind them.
    ///   - pixelsPerModule: the `width` and `height` the SVG asks for.
    public func svg(foreground: String = "#000000", background: String = "#ffffff", pixelsPerModule: Int = 8) -> String {
        let side = size + 2 * Self.quietZone
        var path = ""
        path.reserveCapacity(size * size)
        for y in 0..<size {
            var x = 0
            while x < size {
                guard isDark(x, y) else { x += 1; continue }
                var run = 1
                while isDark(x + run, y) { run += 1 }
                path += "M\(x + Self.quietZone) \(y + Self.quietZone)h\(run)v1h-\(run)z"
                x += run
            }
        }
        let pixels = side * pixelsPerModule
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(side) \(side)" width="\(pixels)" height="\(pixels)" shape-rendering="crispEdges">\
            <rect width="\(side)" height="\(side)" fill="\(Self.attribute(background))"/>\
            <path fill="\(Self.attribute(foreground))" d="\(path)"/></svg>

            """
    }

    private static func attribute(_ value: String) -> String {
        value.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
