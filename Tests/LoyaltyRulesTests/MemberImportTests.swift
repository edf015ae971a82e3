import LoyaltyRules
import Testing

@Suite("Importing members from CSV")
struct MemberImportTests {
    @Test("CSV: quotes, doubled quotes, newlines in quotes, CRLF, semicolons, a byte order mark")
    func csv() throws {
        #expect(try CSVText.rows("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",3") == [["a", "b"], ["x, y", "say \"hi\""], ["two\nlines", "3"]])
        #expect(try CSVText.rows("\u{FEFF}id;name\n1;Zoë") == [["id", "name"], ["1", "Zoë"]])
        #expect(try CSVText.rows("a,b\n") == [["a", "b"]])
        #expect(throws: DomainError.self) { try CSVText.rows("a,\"b\nc") }
    }

    @Test("every bad row is named with its line; good rows carry their fields; duplicates and existing members refused")
    func check() throws {
        let text = """
            Member ID,Name,Points,Tier,Phone
            M-1,Zoë,1250,Gold,+44 7700 900123
            M-2,Sam,,,
            ,No id,5,,
            M-3,Bad points,12.5,,
            M-1,Again,1,,
            M-4,Negative,-3,,
            M-9,Existing,1,,

            M-5,"Quoted, name","1,000",,
            """
        let checked = try MemberImport.check(text, existing: ["M-9"])
        #expect(checked.rows.map(\.memberID) == ["M-1", "M-2", "M-5"])
        #expect(checked.rows[0].points == 1250 && checked.rows[0].fields.map(\.0) == ["tier", "phone"] && checked.rows[2].points == 1000)
        #expect(checked.rows[1].points == 0 && checked.rows[2].memberName == "Quoted, name")
        #expect(checked.faults.map(\.line) == [4, 5, 6, 7, 8])
        #expect(checked.faults[0].message.contains("member id is empty") && checked.faults[1].message.contains("whole number"))
        #expect(checked.faults[2].message.contains("on line 2") && checked.faults[3].message.contains("0 to") && checked.faults[4].message.contains("has a card already"))
        #expect(throws: DomainError.self) { try MemberImport.check("name,points\nZoë,1", existing: []) }
        #expect(throws: DomainError.self) { try MemberImport.check("", existing: []) }
        #expect(try MemberImport.check("id\n99999999999999999999999", existing: []).rows.count == 1, "a long id is text, not a number")
        #expect(try MemberImport.check("id,points\nA,99999999999999999999", existing: []).faults.count == 1, "points past Int64 are refused, not trapped")
    }
}
