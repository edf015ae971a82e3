import Foundation
import PasslineCrypto
import PasslineTestSupport
import Testing

@Suite("passline tenant suspend and resume")
struct TenantLifecycleCLITests {
    @Test("suspend names the reason; an unknown tenant or an empty reason fails naming it; resume undoes it")
    func suspendAndResume() async throws {
        let folder = TestSupport.temporaryFolder()
        let bin = TestSupport.passlineExecutable
        let environment = ["PASSLINE_MASTER_KEY": Data(SecretBox.generateKey()).base64EncodedString(), "PASSLINE_DATABASE_URL": "sqlite:\(folder.path)/passline.sqlite"]
        _ = try await TestSupport.run(bin, ["certs", "dev", "--out", "id", "--pass-type-id", "pass.dev.life", "--team-id", "LIFETEST01"], in: folder)
        let created = try await TestSupport.run(bin, ["tenant", "create", "--name", "Life", "--pass-type-id", "pass.dev.life", "--team-id", "LIFETEST01",
                                                      "--identity", "id", "--json"], environment: environment, in: folder)
        let tenant = try #require(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: String])["id"]!
        let suspended = try await TestSupport.run(bin, ["tenant", "suspend", "--tenant", tenant, "--reason", "unpaid invoice"], environment: environment, in: folder)
        #expect(suspended.status == 0 && suspended.stdout.contains("Suspended tenant \(tenant): unpaid invoice"), "\(suspended.stderr)")
        let unknown = try await TestSupport.run(bin, ["tenant", "suspend", "--tenant", "tn_nobody", "--reason", "x"], environment: environment, in: folder)
        #expect(unknown.status == 1 && unknown.stderr.contains("tn_nobody"), "\(unknown.stderr)")
        let empty = try await TestSupport.run(bin, ["tenant", "suspend", "--tenant", tenant, "--reason", " "], environment: environment, in: folder)
        #expect(empty.status == 1 && empty.stderr.contains("reason"), "\(empty.stderr)")
        let resumed = try await TestSupport.run(bin, ["tenant", "resume", "--tenant", tenant], environment: environment, in: folder)
        #expect(resumed.status == 0 && resumed.stdout.contains("Resumed tenant \(tenant)."), "\(resumed.stderr)")
    }
}
