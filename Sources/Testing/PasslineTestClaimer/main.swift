// A job claimer for the crash tests, not part of the product: it opens the store that
// PASSLINE_DATABASE_URL names, claims jobs with a short lease, completes some, and prints
// "holding N" once it holds leases it has not completed, so a test can SIGKILL it then.
import Foundation
import PasslineDatabase
import PasslineStore

let arguments = CommandLine.arguments
let lease = Int64(arguments.count > 1 ? arguments[1] : "1000") ?? 1000
let database = try await DatabaseURL.fromEnvironment().open(maxConnections: 2)
let queue = JobQueue(database: database, worker: "doomed-\(getpid())")

// Complete one batch, so the killed process has done real work, then hold the next one.
let first = try await queue.claim(limit: 10, leaseMilliseconds: lease)
try await queue.complete(first)
let held = try await queue.claim(limit: 25, leaseMilliseconds: lease)
// Written straight to the file descriptor: print() buffers when stdout is a pipe.
FileHandle.standardOutput.write(Data("completed \(first.count) holding \(held.count)\n".utf8))
while true { sleep(60) }
