import Foundation
import Hummingbird
import LoyaltyRules
import PasslineService

/// The manager's reports: points, active members, wallet installs and pushes per week, drawn
/// as SVG on the server, each downloadable as CSV.
extension WebApp {
    static var reportWeeks: Int { 12 }

    @Sendable func reportsPage(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            var values = visit.frame("Reports")
            values["weekCount"] = Self.reportWeeks
            var reports: [[String: Any]] = []
            for kind in ProgramReports.Kind.allCases {
                let table = try await services.reports.table(kind, tenant: visit.tenant, mode: mode, weeks: Self.reportWeeks)
                let labels = table.weeks.map { String(Self.when($0).dropFirst(5).prefix(5)) }
                let series = zip(kind.series, table.values).map { (name: $0.0.name, values: $0.1) }
                reports.append([
                    "kind": kind.rawValue, "title": kind.title,
                    "legend": kind.series.enumerated().map { ["index": $0.offset, "name": $0.element.name] },
                    "svg": SVGChart.bars(id: "chart-\(kind.rawValue)", title: kind.title, labels: labels, series: series),
                    "rows": table.weeks.indices.map { week in ["week": String(Self.when(table.weeks[week]).prefix(10)), "cells": table.values.map { $0[week] }] as [String: Any] },
                ])
            }
            values["reports"] = reports
            return pages.render("reports", values)
        }
    }

    @Sendable func reportCSV(_ request: Request, context: Context) async throws -> Response {
        try await serve {
            let visit = try await visit(request, .program)
            let name = try context.parameters.require("name")
            guard name.hasSuffix(".csv"), let kind = ProgramReports.Kind(rawValue: String(name.dropLast(4))) else {
                return message(visit, .notFound, heading: "No such report", text: "The reports are points, members, wallets and pushes.")
            }
            let table = try await services.reports.table(kind, tenant: visit.tenant, mode: mode, weeks: Self.reportWeeks)
            var csv = "week," + kind.series.map { CSV.field($0.name) }.joined(separator: ",") + "\r\n"
            for (index, week) in table.weeks.enumerated() {
                csv += String(Self.when(week).prefix(10)) + "," + table.values.map { String($0[index]) }.joined(separator: ",") + "\r\n"
            }
            return CSV.response(csv, filename: "\(kind.rawValue)-\(Self.today).csv")
        }
    }
}

/// CSV as spreadsheets read it (RFC 4180): quoted when needed, CRLF line ends, and a leading
/// `=`, `+`, `-` or `@` neutralised so that no cell runs as a formula when opened.
extension [String] {
    var csvRow: String { CSV.row(self) }
}

enum CSV {
    /// One line: the fields quoted as needed, CRLF at the end.
    static func row(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\r\n" }

    static func field(_ text: String) -> String {
        var value = text
        if let first = value.first, "=+-@\t\r".contains(first) { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func response(_ text: String, filename: String) -> Response {
        var headers = Pages.securityHeaders
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(filename)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
