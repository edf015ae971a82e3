import Foundation

/// CPU time of this process's threads, by name, read from `/proc/self/task`: where a
/// benchmark's CPU went (libcurl's loops, the stand-in's event loop, the store and workers).
struct ThreadTimes {
    /// Seconds of CPU (user and system) by thread id, with the thread's name.
    var threads: [Int: (name: String, seconds: Double)] = [:]

    static func now() -> ThreadTimes {
        var times = ThreadTimes()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard let ids = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return times }
        for id in ids {
            guard let tid = Int(id),
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(id)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")"), let open = stat.firstIndex(of: "(") else { continue }
            // Fields after the name: state is the 3rd field, utime and stime the 14th and 15th.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            times.threads[tid] = (String(stat[stat.index(after: open)..<close]), (user + system) / ticks)
        }
        return times
    }

    /// CPU seconds used since `earlier`, summed by a group name that `group` gives each thread name.
    func since(_ earlier: ThreadTimes, group: (String) -> String) -> [String: Double] {
        var sums: [String: Double] = [:]
        for (tid, thread) in threads {
            sums[group(thread.name), default: 0] += thread.seconds - (earlier.threads[tid]?.seconds ?? 0)
        }
        return sums
    }
}
