import PasslineZip

/// A `.pkpasses` bundle: several signed passes in one download (a membership card and a reward
/// voucher, say), which Wallet offers to add together. A zip of `.pkpass` files, each stored as
/// it is (they are zips already).
public enum PassBundle {
    public static let contentType = "application/vnd.apple.pkpasses"
    /// Wallet takes at most ten passes from one bundle.
    public static let maxPasses = 10

    /// - Throws: `PassError.buildFailed` when there are no passes, more than ten, or zipping fails.
    public static func pkpasses(_ passes: [(name: String, pkpass: [UInt8])]) throws -> [UInt8] {
        guard !passes.isEmpty, passes.count <= maxPasses else {
            throw PassError(.buildFailed, "A .pkpasses bundle holds 1 to \(maxPasses) passes, not \(passes.count).")
        }
        do {
            let zip = try ZipWriter()
            for (index, pass) in passes.enumerated() {
                let safe = pass.name.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
                try zip.add("\(index + 1)-\(safe.isEmpty ? "pass" : String(safe.prefix(64))).pkpass", pass.pkpass, compress: false)
            }
            return try zip.finish()
        } catch let error as ZipError {
            throw PassError(.buildFailed, "The .pkpasses bundle could not be zipped: \(error)")
        }
    }
}
