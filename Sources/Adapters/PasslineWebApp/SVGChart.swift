import Foundation

/// Bar charts drawn on the server as SVG: weeks along the bottom, one bar per series in each
/// week. No chart service, no script: the page carries the picture and, for screen readers and
/// anyone who wants the numbers, the same figures as a table.
enum SVGChart {
    static let colours = ["#0b57d0", "#146c2e", "#a50e0e", "#8430ce", "#b06000"]

    /// - Parameters:
    ///   - id: unique on the page (the title's and description's ids derive from it).
    ///   - labels: one per week.
    ///   - series: a name and one value per week each.
    static func bars(id: String, title: String, labels: [String], series: [(name: String, values: [Int64])]) -> String {
        let width = 640.0, height = 240.0, left = 48.0, bottom = 28.0, top = 12.0, right = 8.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let peak = max(1, series.flatMap(\.values).max() ?? 1)
        let scale = niceCeiling(peak)
        let groupWidth = plotWidth / Double(max(labels.count, 1))
        let barWidth = max(1, (groupWidth * 0.8) / Double(max(series.count, 1)))
        var svg = """
            <svg viewBox="0 0 \(Int(width)) \(Int(height))" width="100%" role="img" aria-labelledby="\(id)-title \(id)-desc" xmlns="http://www.w3.org/2000/svg">
            <title id="\(id)-title">\(escape(title))</title>
            <desc id="\(id)-desc">\(escape(series.map { "\($0.name): \($0.values.reduce(0, +)) in all" }.joined(separator: "; ")))</desc>

            """
        for step in 0...2 {
            let value = scale * Int64(step) / 2
            let y = top + plotHeight - plotHeight * Double(value) / Double(scale)
            svg += "<line x1=\"\(left)\" y1=\(fmt(y)) x2=\"\(width - right)\" y2=\(fmt(y)) stroke=\"#d2d2d7\" stroke-width=\"1\"/>"
            svg += "<text x=\"\(left - 6)\" y=\(fmt(y + 4)) font-size=\"11\" text-anchor=\"end\" fill=\"#5f6368\">\(value)</text>\n"
        }
        for (week, label) in labels.enumerated() {
            let groupLeft = left + groupWidth * Double(week) + groupWidth * 0.1
            for (index, entry) in series.enumerated() {
                let value = week < entry.values.count ? entry.values[week] : 0
                let barHeight = plotHeight * Double(value) / Double(scale)
                svg += "<rect x=\(fmt(groupLeft + barWidth * Double(index))) y=\(fmt(top + plotHeight - barHeight)) width=\(fmt(barWidth)) height=\(fmt(barHeight))"
                svg += " fill=\"\(colours[index % colours.count])\"><title>\(escape("\(entry.name), week of \(label): \(value)"))</title></rect>"
            }
            // Every other label when the weeks are many (the newest always), so they never overlap.
            if labels.count <= 8 || (labels.count - 1 - week) % 2 == 0 {
                svg += "<text x=\(fmt(groupLeft + groupWidth * 0.4)) y=\(fmt(height - 8)) font-size=\"11\" text-anchor=\"middle\" fill=\"#5f6368\">\(escape(label))</text>"
            }
            svg += "\n"
        }
        return svg + "</svg>"
    }

    /// 1, 2 or 5 times a power of ten, at least `value`: round numbers on the axis.
    static func niceCeiling(_ value: Int64) -> Int64 {
        var power: Int64 = 1
        while power <= Int64.max / 10 && power * 10 <= value { power *= 10 }
        for factor: Int64 in [1, 2, 5, 10] where power.multipliedReportingOverflow(by: factor).partialValue >= value && !power.multipliedReportingOverflow(by: factor).overflow {
            return power * factor
        }
        return value
    }

    static func fmt(_ value: Double) -> String { "\"\(String(format: "%.1f", value))\"" }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
