import Foundation
import PasslineCrypto
import PasslineTestSupport
import Testing

@Suite("passline tenant invite")
struct StaffCommandTests {
    @Test("prints a one-time link under PASSLINE_PUBLIC_URL; a bad role, address or tenant is named")
    func invite() async throws {
        let bin = TestSupport.passlineExecutable
        let folder = TestSupport.temporaryFolder()
        let environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(),
                           "PASSLINE_DATABASE_URL": "sqlite:\(folder.path)/passline.sqlite", "PASSLINE_PUBLIC_URL": "https://cards.example.com"]
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.staff", "--team-id", "STAFFTEAM1"], in: folder)
        let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Lumen", "--pass-type-id", "pass.dev.staff", "--team-id", "STAFFTEAM1",
                                                      "--identity", "id", "--json"], environment: environment, in: folder)
        let tenant = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])?["id"])
        let invited = try await TestSupport.run(bin, ["tenant", "invite", "--tenant", tenant, "--email", "owner@lumen.example", "--role", "owner"],
                                                environment: environment, in: folder)
        #expect(invited.status == 0, "\(invited.stderr)")
        #expect(invited.stdout.hasPrefix("https://cards.example.com/app/invite/") && invited.stdout.count > 60)
        let role = try await TestSupport.run(bin, ["tenant", "invite", "--tenant", tenant, "--email", "x@lumen.example", "--role", "admin"], environment: environment, in: folder)
        #expect(role.status == 64 && role.stderr.contains("owner, manager or frontdesk"), "\(role.stderr)")
        let email = try await TestSupport.run(bin, ["tenant", "invite", "--tenant", tenant, "--email", "not-an-address", "--role", "manager"], environment: environment, in: folder)
        #expect(email.status == 1 && email.stderr.contains("e-mail address"), "\(email.stderr)")
        let nobody = try await TestSupport.run(bin, ["tenant", "invite", "--tenant", "tn_nobody", "--email", "x@lumen.example", "--role", "manager"], environment: environment, in: folder)
        #expect(nobody.status == 1 && nobody.stderr.contains("No tenant tn_nobody"), "\(nobody.stderr)")
    }
}
