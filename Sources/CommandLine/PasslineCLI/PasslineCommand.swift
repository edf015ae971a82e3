import ArgumentParser

/// `passline`: the one executable. Subcommands parse their arguments and call into the libraries.
@available(macOS 10.15, *)
public struct PasslineCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "passline",
        abstract: "Live loyalty cards for Apple Wallet and Google Wallet.",
        subcommands: [ServeCommand.self, MigrateCommand.self, TenantCommand.self, CampaignCommand.self, CertsCommand.self, PassCommand.self, QRCommand.self, BenchCommand.self, APNsSimCommand.self, GoogleSimCommand.self]
    )

    public init() {}
}
