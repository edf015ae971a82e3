import PasslineSQL

/// Jobs by state, kept as the jobs change (migration 9's triggers), so that reading them costs
/// the same with ten jobs or ten million.
public enum JobCounts {
    public static let states = ["ready", "running", "done", "dead"]

    /// The count of every state. On PostgreSQL the statements' deltas not yet folded are added in.
    public static func read(on connection: any SQLConnection) throws -> [String: Int64] {
        let dialect = connection.dialect
        let sql = dialect == .postgres
            ? """
              SELECT c.state AS state, CAST(c.n + COALESCE((SELECT SUM(d.delta) FROM job_count_deltas d WHERE d.state = c.state), 0) AS BIGINT) AS n
              FROM job_counts c
              """
            : "SELECT state, n FROM job_counts"
        var counts: [String: Int64] = [:]
        for row in try connection.query(sql, []) { counts[try row.string("state")] = try row.int("n") }
        return counts
    }

    /// Moves PostgreSQL's deltas into the counts, in one statement: a delta is deleted and added
    /// once, also when two processes fold at the same time (the second finds the rows gone).
    /// Without it the deltas grow by a few rows per statement on the job table.
    /// - Returns: how many delta rows were folded.
    @discardableResult
    public static func fold(on connection: any SQLConnection) throws -> Int {
        let dialect = connection.dialect
        guard dialect == .postgres else { return 0 }
        let row = try connection.first("""
            WITH moved AS (DELETE FROM job_count_deltas RETURNING state, delta),
                 summed AS (SELECT state, SUM(delta) AS d, COUNT(*) AS rows FROM moved GROUP BY state),
                 applied AS (UPDATE job_counts SET n = job_counts.n + summed.d FROM summed WHERE job_counts.state = summed.state RETURNING 1)
            SELECT CAST(COALESCE(SUM(rows), 0) AS BIGINT) AS n FROM summed
            """, [])
        return Int(try row?.int("n") ?? 0)
    }
}
