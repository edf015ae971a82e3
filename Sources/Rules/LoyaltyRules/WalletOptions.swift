import Foundation
import PasslineJSON

/// What a card says to the wallets beyond its fields: when it expires, when and where it is
/// relevant. Set per card over the API, typed and checked here, and drawn the same in both
/// wallets (Apple's `expirationDate`, `relevantDates`, `locations`, `maxDistance`; Google's
/// `validTimeInterval` and `merchantLocations`). Absent values fall back to the template's.
public struct WalletOptions: Sendable, Equatable {
    /// A moment, or a window, when the card belongs on the lock screen.
    public enum RelevantDate: Sendable, Equatable {
        case moment(Int64)
        case interval(start: Int64, end: Int64)
    }

    /// A place where the card comes up on the lock screen.
    public struct Place: Sendable, Equatable {
        public var latitude: Double
        public var longitude: Double
        public var altitude: Double?
        /// Shown on the lock screen near the place (Apple only; Google writes its own).
        public var relevantText: String?
        public init(latitude: Double, longitude: Double, altitude: Double? = nil, relevantText: String? = nil) {
            self.latitude = latitude; self.longitude = longitude; self.altitude = altitude; self.relevantText = relevantText
        }
    }

    public var expiresAt: Int64?
    public var relevantDates: [RelevantDate] = []
    public var locations: [Place] = []
    /// Metres from a location within which the card is relevant.
    public var maxDistance: Int64?

    public init(expiresAt: Int64? = nil, relevantDates: [RelevantDate] = [], locations: [Place] = [], maxDistance: Int64? = nil) {
        self.expiresAt = expiresAt; self.relevantDates = relevantDates; self.locations = locations; self.maxDistance = maxDistance
    }

    public var isEmpty: Bool { self == WalletOptions() }

    /// The API's keys for these options, on a card's body.
    public static let keys = ["expirationDate", "relevantDates", "locations", "maxDistance"]
    public static let maxRelevantDates = 10
    /// Apple's limit: Wallet uses at most 10 locations.
    public static let maxLocations = 10
    public static let maxRelevantText = 100
    public static let maxDistanceLimit: Int64 = 100_000

    /// These options with the keys of `object` that `keys` names applied: a value replaces,
    /// null clears, a key left out stays as it was.
    /// - Throws: `DomainError.invalid` naming every bad key by its path.
    public func applying(_ object: JSONObject) throws(DomainError) -> WalletOptions {
        var options = self
        var faults: [DomainError.Fault] = []
        func time(_ value: JSONValue?, _ path: String) -> Int64? {
            guard case .string(let text)? = value else {
                faults.append(.init(path, "must be an RFC 3339 date and time with its zone, such as 2027-03-31T23:59:00+01:00, found \(value?.typeName ?? "nothing")"))
                return nil
            }
            guard let time = Timestamp.parse(text) else {
                faults.append(.init(path, "must be an RFC 3339 date and time with its zone, such as 2027-03-31T23:59:00+01:00, found \"\(text.prefix(40))\""))
                return nil
            }
            return time
        }
        func number(_ value: JSONValue?, _ path: String, _ range: ClosedRange<Double>) -> Double? {
            let number: Double?
            switch value {
            case .int(let i)?: number = Double(i)
            case .double(let d)?: number = d
            default: number = nil
            }
            guard let number, number.isFinite, range.contains(number) else {
                faults.append(.init(path, "must be a number from \(range.lowerBound) to \(range.upperBound), found \(value.map { JSONWriter.string($0).prefix(40) } ?? "nothing")"))
                return nil
            }
            return number
        }

        switch object["expirationDate"] {
        case nil: break
        case .null?: options.expiresAt = nil
        case let value?: options.expiresAt = time(value, "expirationDate")
        }

        switch object["relevantDates"] {
        case nil: break
        case .null?: options.relevantDates = []
        case .array(let items)? where items.count <= Self.maxRelevantDates:
            options.relevantDates = []
            for (index, item) in items.enumerated() {
                let path = "relevantDates[\(index)]"
                guard case .object(let entry) = item else { faults.append(.init(path, "must be an object {date} or {startDate, endDate}, found \(item.typeName)")); continue }
                for key in entry.keys where !["date", "startDate", "endDate"].contains(key) { faults.append(.init("\(path).\(key)", "is not a field of a relevant date (date, or startDate and endDate)")) }
                if entry["date"] != nil {
                    if entry["startDate"] != nil || entry["endDate"] != nil { faults.append(.init(path, "has a date and an interval; give one")) }
                    if let moment = time(entry["date"], "\(path).date") { options.relevantDates.append(.moment(moment)) }
                } else {
                    let start = time(entry["startDate"], "\(path).startDate"), end = time(entry["endDate"], "\(path).endDate")
                    if let start, let end {
                        if end <= start { faults.append(.init("\(path).endDate", "must come after startDate")) } else { options.relevantDates.append(.interval(start: start, end: end)) }
                    }
                }
            }
        case .array?: faults.append(.init("relevantDates", "must list at most \(Self.maxRelevantDates) dates"))
        case let other?: faults.append(.init("relevantDates", "must be an array of {date} or {startDate, endDate}, found \(other.typeName)"))
        }

        switch object["locations"] {
        case nil: break
        case .null?: options.locations = []
        case .array(let items)? where items.count <= Self.maxLocations:
            options.locations = []
            for (index, item) in items.enumerated() {
                let path = "locations[\(index)]"
                guard case .object(let entry) = item else { faults.append(.init(path, "must be an object {latitude, longitude, altitude?, relevantText?}, found \(item.typeName)")); continue }
                for key in entry.keys where !["latitude", "longitude", "altitude", "relevantText"].contains(key) {
                    faults.append(.init("\(path).\(key)", "is not a field of a location (latitude, longitude, altitude, relevantText)"))
                }
                let latitude = number(entry["latitude"], "\(path).latitude", -90...90), longitude = number(entry["longitude"], "\(path).longitude", -180...180)
                let altitude = entry["altitude"].flatMap { $0 == .null ? nil : number($0, "\(path).altitude", -11_000...100_000) }
                var text: String?
                switch entry["relevantText"] {
                case nil, .null?: break
                case .string(let s)? where !s.isEmpty && s.count <= Self.maxRelevantText && !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }): text = s
                case .string?: faults.append(.init("\(path).relevantText", "must be 1 to \(Self.maxRelevantText) characters on one line"))
                case let other?: faults.append(.init("\(path).relevantText", "must be a string, found \(other.typeName)"))
                }
                if let latitude, let longitude { options.locations.append(Place(latitude: latitude, longitude: longitude, altitude: altitude, relevantText: text)) }
            }
        case .array?: faults.append(.init("locations", "must list at most \(Self.maxLocations) places (Wallet uses no more)"))
        case let other?: faults.append(.init("locations", "must be an array of {latitude, longitude}, found \(other.typeName)"))
        }

        switch object["maxDistance"] {
        case nil: break
        case .null?: options.maxDistance = nil
        case .int(let metres)? where metres > 0 && metres <= Self.maxDistanceLimit: options.maxDistance = metres
        case let other?: faults.append(.init("maxDistance", "must be a whole number of metres from 1 to \(Self.maxDistanceLimit), found \(JSONWriter.string(other).prefix(40))"))
        }
        if options.maxDistance != nil && options.locations.isEmpty && object["maxDistance"] != nil && object["maxDistance"] != .null {
            faults.append(.init("maxDistance", "needs locations on the card"))
        }
        try DomainError.check(faults, "The card's wallet options are not valid")
        return options
    }

    /// The options as the API shows them (and the store keeps them): only what is set.
    public var json: JSONObject {
        var object = JSONObject()
        if let expiresAt { object["expirationDate"] = .string(Timestamp.format(expiresAt)) }
        if !relevantDates.isEmpty {
            object["relevantDates"] = .array(relevantDates.map { date in
                switch date {
                case .moment(let at): .object(JSONObject([("date", .string(Timestamp.format(at)))]))
                case .interval(let start, let end): .object(JSONObject([("startDate", .string(Timestamp.format(start))), ("endDate", .string(Timestamp.format(end)))]))
                }
            })
        }
        if !locations.isEmpty {
            object["locations"] = .array(locations.map { place in
                var entry = JSONObject([("latitude", .double(place.latitude)), ("longitude", .double(place.longitude))])
                if let altitude = place.altitude { entry["altitude"] = .double(altitude) }
                if let text = place.relevantText { entry["relevantText"] = .string(text) }
                return .object(entry)
            })
        }
        if let maxDistance { object["maxDistance"] = .int(maxDistance) }
        return object
    }

    /// Reads what `json` wrote; a stored value that no longer reads is dropped, never fatal.
    public static func stored(_ text: String?) -> WalletOptions {
        guard let text, let object = (try? JSONParser.parse(text))?.objectValue else { return WalletOptions() }
        return (try? WalletOptions().applying(object)) ?? WalletOptions()
    }
}
