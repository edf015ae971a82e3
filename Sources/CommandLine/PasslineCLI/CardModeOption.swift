import ArgumentParser
import LoyaltyRules
import PasslineStore

/// `--mode live|test`, parsed by the argument parser: anything else is a usage error (exit 64)
/// that names the flag and the values it takes.
struct CardModeOption: ExpressibleByArgument, Sendable {
    let value: CardMode

    init(_ value: CardMode) { self.value = value }

    init?(argument: String) {
        guard let mode = CardMode(rawValue: argument) else { return nil }
        value = mode
    }

    var defaultValueDescription: String { value.rawValue }
    static var allValueStrings: [String] { CardMode.allCases.map(\.rawValue) }
}
