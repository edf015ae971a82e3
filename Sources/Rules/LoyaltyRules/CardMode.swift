/// Which kind of API key a card, template or request belongs to: live cards reach real devices,
/// test cards are real passes marked "TEST" that are never pushed, and neither sees the other.
public enum CardMode: String, Sendable, CaseIterable, Hashable {
    case live, test
}
