import ArgumentParser
import CMalloc
import PasslineCLI

#if canImport(Glibc)
import Glibc
#endif

@main
struct Entry: AsyncMainProtocol {
    typealias Command = PasslineCommand

    static func main() async {
        tuneProcess()
        LogFormat.bootstrap()
        await PasslineCommand.main()
    }

    /// Process-wide settings that only the executable may make, measured with `passline bench build`.
    private static func tuneProcess() {
        #if canImport(Glibc)
        // With TZ unset, glibc stats /etc/localtime on every localtime() call, and libzip makes
        // one per zip entry: about 20 system calls per pass. Naming the same file keeps local
        // time as it is but lets glibc read it once.
        if getenv("TZ") == nil { setenv("TZ", ":/etc/localtime", 0) }
        // A pass is ~140 KB; above glibc's default mmap threshold every buffer of that size is
        // mapped, faulted in and unmapped again. Keep such buffers on the heap and do not trim
        // the heap after each one.
        #endif
        passline_malloc_keep_large_buffers_on_heap(8 << 20, 64 << 20, 16 << 20)
    }
}
