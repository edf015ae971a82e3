import Foundation
import PasslineCrypto
import PasslineJSON
import PasslinePNG
import PasslineZip

/// A validated pass template, with everything that does not change from card to card done once:
/// pass.json compiled, asset bytes hashed and compressed, the manifest's fixed part written.
public final class PassTemplate: Sendable {
    public let name: String
    /// The pass style: `storeCard`, `generic`, …
    public let style: String
    /// The data keys the template asks for, in order of first use.
    public let placeholders: [Placeholder]
    /// What loading found that Wallet tolerates.
    public let warnings: [PassFinding]
    /// The template's pass.json as written (placeholders unresolved), for previews.
    public let document: JSONObject
    /// Every file the pass carries besides pass.json, by path (`logo@2x.png`, `de.lproj/pass.strings`).
    public let assetNames: [String]
    /// The colours of each stage a card can be in (from the template's `stages.json`).
    public let stageColors: StageColors
    /// Google Wallet's own images the template has (`google/logo.png`, `google/hero.png`):
    /// stored with it, never in the pass.
    public let googleImages: Set<String>
    /// Data keys spliced into a barcode whose `messageEncoding` is ISO 8859-1: their values
    /// must be Latin-1, or the scanner reads something else than the card says.
    public let latin1BarcodeKeys: Set<String>

    let passJSON: CompiledPassJSON
    let assets: PrecompressedEntries
    /// The assets and manifest start of a personalized card's pass, when the template offers
    /// Wallet's sign-up form (nil otherwise).
    let personalized: (assets: PrecompressedEntries, manifestPrefix: [UInt8])?
    /// Whether the template carries `personalization.json`: its passes offer Wallet's sign-up form.
    public var isPersonalizable: Bool { personalized != nil }
    /// `{"name":"sha1",…,` — the manifest up to the entry for pass.json.
    let manifestPrefix: [UInt8]

    /// The most a template may hold, so an upload cannot fill memory.
    public static let limits = ZipLimits(maxEntries: 200, maxTotalSize: 16 << 20)

    /// Loads and validates `PassTemplates/<name>.pass/`.
    /// - Throws: `PassError.invalidTemplate` listing every fault, `.unreadableFile` when the folder cannot be read.
    public static func load(folder: URL) throws -> PassTemplate {
        var name = folder.lastPathComponent
        if name.hasSuffix(".pass") { name.removeLast(5) }
        return try PassTemplate(name: name, files: try files(inFolder: folder))
    }

    /// Every file of a template folder by its relative path, within the upload limits.
    /// - Throws: `PassError.unreadableFile` when the folder cannot be read, `.invalidTemplate` over the limits.
    public static func files(inFolder folder: URL) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        let base = folder.standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: base.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PassError(.unreadableFile, "The template folder \(folder.path) does not exist.")
        }
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey], options: []) else {
            throw PassError(.unreadableFile, "The template folder \(folder.path) cannot be read.")
        }
        var total = 0
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let relative = String(url.standardizedFileURL.path.dropFirst(base.path.count + 1))
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw PassError(.unreadableFile, "\(url.path) cannot be read.")
            }
            total += data.count
            guard files.count < limits.maxEntries, total <= limits.maxTotalSize else {
                throw PassError(.invalidTemplate, "The template folder \(folder.path) holds more than \(limits.maxEntries) files or \(limits.maxTotalSize >> 20) MiB.")
            }
            files[relative] = [UInt8](data)
        }
        return files
    }

    /// Loads a template uploaded as a zip: its files at the root, or inside one top folder.
    /// - Throws: `PassError.invalidTemplate` when the zip is unreadable, too large, or its template is invalid.
    public static func load(name: String, zip bytes: [UInt8]) throws -> PassTemplate {
        try PassTemplate(name: name, files: try files(fromZip: bytes))
    }

    /// The files of a zipped template, by path relative to the template: from the zip's root,
    /// or from inside its one top folder.
    /// - Throws: `PassError.invalidTemplate` when the zip is unreadable or too large.
    public static func files(fromZip bytes: [UInt8]) throws -> [String: [UInt8]] {
        let reader: ZipReader
        do { reader = try ZipReader(bytes: bytes, limits: limits) } catch {
            throw PassError(.invalidTemplate, "The template upload is not usable: \(error)")
        }
        var files: [String: [UInt8]] = [:]
        for entry in reader.entries where !entry.name.hasSuffix("/") {
            do { files[entry.name] = try reader.read(entry) } catch {
                throw PassError(.invalidTemplate, "The template upload is damaged: \(error)")
            }
        }
        // Zipping a folder usually puts its files under the folder's name; accept both layouts.
        let visible = files.keys.filter { !isHidden($0) }
        let tops = Set(visible.map { $0.split(separator: "/").first.map(String.init) ?? "" })
        if files["pass.json"] == nil, tops.count == 1, let top = tops.first, visible.allSatisfy({ $0.contains("/") }) {
            files = Dictionary(uniqueKeysWithValues: files.compactMap { path, bytes in
                path.hasPrefix(top + "/") ? (String(path.dropFirst(top.count + 1)), bytes) : nil
            })
        }
        return files
    }

    static func isHidden(_ path: String) -> Bool {
        path.split(separator: "/").contains { $0.hasPrefix(".") || $0 == "__MACOSX" }
    }

    /// Validates and prepares a template from its files, keyed by path relative to the template folder.
    /// - Throws: `PassError.invalidTemplate` listing every fault.
    public init(name: String, files: [String: [UInt8]]) throws {
        var findings: [PassFinding] = []
        func fault(_ file: String, _ message: String) { findings.append(PassFinding(.error, file: file, message)) }
        func caution(_ file: String, _ message: String) { findings.append(PassFinding(.warning, file: file, message)) }
        let invalid = { (findings: [PassFinding]) in
            PassError(.invalidTemplate, "The template \"\(name)\" is not valid (\(findings.errors.count) error\(findings.errors.count == 1 ? "" : "s")).", findings: findings)
        }

        // pass.json
        guard let source = files["pass.json"] else {
            throw invalid([PassFinding(.error, file: "pass.json", "is missing; a template needs a pass.json at its top level")])
        }
        let json: JSONValue
        do { json = try JSONParser.parse(source) } catch {
            throw invalid([PassFinding(.error, file: "pass.json", "is not valid JSON: \(error)")])
        }
        findings += PassJSONRules.check(json, mode: .template)
        let document = json.objectValue ?? JSONObject()
        let style = PassJSONRules.styles.first { document[$0] != nil } ?? ""

        // The other files.
        var assets: [(name: String, bytes: [UInt8])] = []
        var images: [String: (image: PassImageName, size: PNGInfo)] = [:]
        var stageColors = StageColors()
        var googleImages: Set<String> = []
        if let stages = files["stages.json"] {
            do { stageColors = try StageColors(parsing: stages) } catch { findings += error.findings }
        }
        for path in files.keys.sorted() where path != "pass.json" && path != "stages.json" {
            // Path tricks first: ".." would otherwise pass for a hidden file and slip by unreported.
            let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if parts.contains("..") || parts.contains(".") || path.hasPrefix("/") || parts.contains("") || path.contains("\\") {
                fault(path, "is not a plain relative path")
                continue
            }
            if Self.isHidden(path) { continue }
            let bytes = files[path]!
            let fileName = parts.last!
            if parts.count == 1 && (fileName == "manifest.json" || fileName == "signature") {
                caution(path, "is made when each pass is built; the template's copy is left out")
                continue
            }
            // Google Wallet's own artwork: checked here, kept out of the pass.
            if parts.count == 2 && parts[0] == "google" {
                if let problem = Self.googleImageProblem(fileName, bytes) { fault(path, problem) } else { googleImages.insert(path) }
                continue
            }
            let inLocale = parts.count == 2 && parts[0].hasSuffix(".lproj") && parts[0].count > 6
            guard parts.count == 1 || inLocale else {
                caution(path, "is not where a pass looks for files (the top level or <lang>.lproj/); it is left out")
                continue
            }
            if fileName.hasSuffix(".png") {
                // Decoded through to the last pixel: a header alone says nothing of whether Wallet can draw it.
                let info: PNGInfo
                do {
                    let checked = try PNGChecker.check(bytes)
                    info = PNGInfo(width: checked.width, height: checked.height)
                } catch let failure as PNGChecker.Failure {
                    fault(path, PNGInfo(bytes) == nil ? "is not a PNG image (Wallet reads only PNG)" : "is not a valid PNG image: it \(failure)")
                    continue
                } catch {
                    fault(path, "is not a valid PNG image: \(error)")
                    continue
                }
                if let image = PassImageName(fileName: fileName) {
                    if !PassImageName.known.contains(image.base) {
                        caution(path, "is not an image Wallet uses (\(PassImageName.known.sorted().joined(separator: ", ")))")
                    } else if !style.isEmpty && !PassImageName.shown(by: style).contains(image.base) {
                        caution(path, "is not shown on a \(style) pass")
                    }
                    if let area = PassImageName.allottedPoints(image.base, style: style) {
                        let most = (width: area.width * image.scale, height: area.height * image.scale)
                        let sized = "is \(info.width)×\(info.height) pixels; Wallet shows a \(image.base) at most \(area.width)×\(area.height) points, \(most.width)×\(most.height) pixels at @\(image.scale)x"
                        // Twice the size Wallet draws is a photo uploaded by mistake, not a careful
                        // margin: every pass download would carry it.
                        if info.width > most.width * 2 || info.height > most.height * 2 {
                            fault(path, sized)
                        } else if info.width > most.width || info.height > most.height {
                            caution(path, sized + "; it is scaled down")
                        }
                    }
                    images[path] = (image, info)
                } else {
                    caution(path, "does not follow Wallet's image naming (name.png, name@2x.png, name@3x.png)")
                }
                assets.append((path, bytes))
            } else if parts.count == 1 && fileName == "personalization.json" {
                let problems = Personalization.problems(bytes)
                for problem in problems { findings.append(PassFinding(.error, file: path, field: problem.field, problem.message)) }
                if problems.isEmpty { assets.append((path, bytes)) }
            } else if inLocale && fileName == "pass.strings" {
                guard let text = PassStrings.decode(bytes) else {
                    fault(path, "is neither UTF-8 nor UTF-16 with a byte order mark")
                    continue
                }
                do { _ = try PassStrings.parse(text) } catch {
                    fault(path, "line \(error.line): \(error.message)")
                    continue
                }
                // Apple asks for UTF-16 when the text is not ASCII; convert rather than make authors do it.
                assets.append((path, PassStrings.encodedForWallet(text)))
            } else {
                caution(path, "is not part of a pass (images are .png, localizations <lang>.lproj/pass.strings); it is left out")
            }
        }

        if files["personalization.json"] != nil && !images.keys.contains(where: { $0.hasPrefix("personalizationLogo") }) {
            fault("personalizationLogo.png", "is missing; Wallet's sign-up form shows it above the program's description (150×40 points)")
        }
        if images["icon.png"] == nil {
            fault("icon.png", "is missing; Wallet requires an icon at the top level of every pass")
        }

        // Resolutions: @2x should be twice @1x, @3x three times (Wallet scales otherwise).
        for (path, entry) in images where entry.image.scale > 1 {
            let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) + "/" : ""
            guard let base = images[directory + entry.image.base + ".png"] else { continue }
            let s = entry.image.scale
            if entry.size.width != base.size.width * s || entry.size.height != base.size.height * s {
                caution(path, "is \(entry.size.width)×\(entry.size.height), not \(s)× \(directory)\(entry.image.base).png (\(base.size.width)×\(base.size.height)); Wallet will scale it")
            }
        }

        // Every .lproj that localizes an image does so at the same resolutions and sizes.
        var localized: [String: [String: [Int: PNGInfo]]] = [:]  // base -> lproj -> scale -> size
        for (path, entry) in images where path.contains("/") {
            let lproj = String(path.split(separator: "/")[0])
            localized[entry.image.base, default: [:]][lproj, default: [:]][entry.image.scale] = entry.size
        }
        for (base, byLocale) in localized.sorted(by: { $0.key < $1.key }) where byLocale.count > 1 {
            let locales = byLocale.keys.sorted()
            let reference = locales[0]
            for locale in locales.dropFirst() {
                let expected = byLocale[reference]!, actual = byLocale[locale]!
                if Set(expected.keys) != Set(actual.keys) {
                    func list(_ s: [Int: PNGInfo]) -> String { s.keys.sorted().map { $0 == 1 ? "@1x" : "@\($0)x" }.joined(separator: ", ") }
                    fault("\(locale)/\(base).png", "exists at \(list(actual)) but \(reference) has it at \(list(expected)); every .lproj must have the same resolutions")
                } else {
                    for (scale, size) in actual where size != expected[scale] {
                        let file = scale == 1 ? "\(base).png" : "\(base)@\(scale)x.png"
                        fault("\(locale)/\(file)", "is \(size.width)×\(size.height) but \(reference)/\(file) is \(expected[scale]!.width)×\(expected[scale]!.height); every .lproj must have the same image sizes")
                    }
                }
            }
        }

        var compiled: CompiledPassJSON?
        if json.objectValue != nil {
            do { compiled = try CompiledPassJSON(document, file: "pass.json") } catch let failure as PassError {
                findings += failure.findings
            }
        }
        if findings.hasErrors || compiled == nil { throw invalid(findings) }

        assets.sort { $0.name < $1.name }
        func manifestPrefix(_ assets: [(name: String, bytes: [UInt8])]) -> [UInt8] {
            var prefix: [UInt8] = [UInt8(ascii: "{")]
            for asset in assets {
                JSONWriter.writeString(asset.name, into: &prefix)
                prefix.append(UInt8(ascii: ":"))
                JSONWriter.writeString(Digest.hex(Digest.sha1(asset.bytes)), into: &prefix)
                prefix.append(UInt8(ascii: ","))
            }
            return prefix
        }
        let prefix = manifestPrefix(assets)

        do {
            self.assets = try PrecompressedEntries(assets)
            // A personalized card's pass: the same files without the sign-up form's.
            if assets.contains(where: { $0.name == "personalization.json" }) {
                let plain = assets.filter { !Personalization.isPersonalizationFile($0.name) }
                self.personalized = (try PrecompressedEntries(plain), manifestPrefix(plain))
            } else {
                self.personalized = nil
            }
        } catch {
            throw PassError(.buildFailed, "The template \"\(name)\" could not be compressed: \(error)")
        }
        self.name = name
        self.style = style
        self.document = document
        self.passJSON = compiled!
        self.placeholders = compiled!.placeholders
        self.warnings = findings.warnings
        self.assetNames = assets.map(\.name)
        self.stageColors = stageColors
        self.manifestPrefix = prefix
        self.latin1BarcodeKeys = Self.latin1Keys(document)
        self.googleImages = googleImages
    }

    /// Google's program logo is square and shown in a circle (at least 660×660 pixels); its hero
    /// image is a wide banner (Google recommends 1032×336). Nil when the file is fine.
    static func googleImageProblem(_ name: String, _ bytes: [UInt8]) -> String? {
        guard name == "logo.png" || name == "hero.png" else {
            return "is not Google artwork Passline uses (google/logo.png, square, and google/hero.png, wide)"
        }
        let image: PNGChecker.Image
        do { image = try PNGChecker.check(bytes) } catch { return "is not a valid PNG image: it \(error)" }
        if name == "logo.png" {
            if image.width != image.height { return "is \(image.width)×\(image.height); Google's program logo must be square (it is shown in a circle)" }
            if image.width < 660 { return "is \(image.width)×\(image.height); Google asks for at least 660×660 pixels" }
            if image.width > 2_048 { return "is \(image.width)×\(image.height); 660 to 2048 pixels a side is plenty" }
        } else {
            if image.width < 1_032 / 2 || image.width < image.height * 2 { return "is \(image.width)×\(image.height); a hero image is a wide banner (Google recommends 1032×336)" }
            if image.width > 3_096 { return "is \(image.width)×\(image.height); at most 3096 pixels wide" }
        }
        return nil
    }

    static func latin1Keys(_ document: JSONObject) -> Set<String> {
        let barcodes = (document["barcodes"]?.arrayValue ?? []) + (document["barcode"].map { [$0] } ?? [])
        var keys: Set<String> = []
        for barcode in barcodes where PassJSONRules.isLatin1(encoding: barcode["messageEncoding"]?.stringValue) {
            guard let message = barcode["message"]?.stringValue, case .placeholders(let parts)? = try? TemplateText.split(message) else { continue }
            for case .hole(let placeholder) in parts { keys.insert(placeholder.key) }
        }
        return keys
    }
}
