import Foundation
import POSIX
import Testing
import TestSupport

/// SIGUSR1 deliveries seen by the writer thread of `writeAllSurvivesSignalsThroughAPipe`.
nonisolated(unsafe) private var interruptions = 0

struct POSIXTests {
    /// 4 MiB through a pipe whose reader is slow, while the writer is hit by signals without
    /// SA_RESTART: every write that is interrupted (EINTR) or cut short is resumed, in order.
    @Test func writeAllSurvivesSignalsThroughAPipe() throws {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in interruptions += 1 }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        var previous = sigaction()
        sigaction(SIGUSR1, &action, &previous)
        defer { sigaction(SIGUSR1, &previous, nil) }

        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let reader = FileDescriptor.adopting(ends[0], path: "pipe")
        let payload = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 % 251) }

        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var thread: pthread_t?
            var done = false
            var writer: FileDescriptor?
            var error: (any Error)?
        }
        let shared = Shared()
        shared.writer = FileDescriptor.adopting(ends[1], path: "pipe")
        let started = DispatchSemaphore(value: 0)
        let payloadCopy = payload
        Thread {
            // The test runner's threads may block signals; this one must receive them.
            var unblocked = sigset_t()
            sigemptyset(&unblocked)
            sigaddset(&unblocked, SIGUSR1)
            pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
            shared.lock.withLock { shared.thread = pthread_self() }
            started.signal()
            do {
                try payloadCopy.withUnsafeBytes { try shared.writer?.writeAll($0) }
            } catch {
                shared.error = error
            }
            shared.lock.withLock {
                shared.done = true
                shared.writer = nil  // closes the write end: the reader sees the end
            }
        }.start()
        started.wait()

        var received: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            shared.lock.withLock {
                if !shared.done, let thread = shared.thread { pthread_kill(thread, SIGUSR1) }
            }
            usleep(500)
            let count = try reader.read(into: chunk)
            if count == 0 { break }
            received.append(contentsOf: chunk[0..<count])
        }
        #expect(shared.error == nil)
        #expect(received.count == payload.count)
        #expect(received == payload)
        #expect(interruptions > 0)
    }

    @Test func positionedReadsAndWrites() throws {
        let temp = try TemporaryDirectory()
        let file = try FileDescriptor.open(temp.path("f"), .readWrite, options: [.create, .exclusive], permissions: 0o600)
        try Array("hello world".utf8).withUnsafeBytes { try file.writeAll($0, at: 100) }
        var buffer = [UInt8](repeating: 0, count: 5)
        let count = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: 106) }
        #expect(count == 5 && String(decoding: buffer, as: UTF8.self) == "world")
        #expect(try file.status().size == 111)
        #expect(try FileSystem.readFile(temp.path("f"), limit: 1000).count == 111)
        #expect {
            try FileSystem.readFile(temp.path("f"), limit: 100)
        } throws: { error in
            (error as? SystemCallError)?.errno == .fileTooLarge
        }
    }

    @Test func readdirListsADirectoryDescriptor() throws {
        let temp = try TemporaryDirectory()
        let root = try FileDescriptor.open(temp.path(""), options: .directory)
        #expect(try root.entries().isEmpty)
        try root.makeDirectory("dir", permissions: 0o755)
        try root.makeSymbolicLink("link", to: "/etc")
        _ = try root.open("file", .writeOnly, options: [.create, .exclusive], permissions: 0o644)
        try root.makeNode("fifo", .fifo, permissions: 0o600)
        #expect(try root.entries().sorted() == ["dir", "fifo", "file", "link"])
        #expect(try root.status(of: "link")?.kind == .symbolicLink)
        #expect(try root.status(of: "fifo")?.kind == .fifo)
        #expect(try root.status(of: "missing") == nil)
        #expect(try root.readLink("link") == Array("/etc".utf8))
        #expect(try root.open("dir", options: .directory).entries() == [])
    }

    /// Every error names the operation, the path and errno in words and by name.
    @Test func errorsNameTheOperationThePathAndErrno() throws {
        let temp = try TemporaryDirectory()
        let missing = temp.path("missing")
        let notFound = #expect(throws: SystemCallError.self) { try FileDescriptor.open(missing) }
        #expect(notFound?.errno == .noSuchFileOrDirectory)
        #expect(notFound?.description == "open \(missing): No such file or directory (ENOENT)")

        _ = FileManager.default.createFile(atPath: temp.path("file"), contents: Data("x".utf8))
        let notDirectory = #expect(throws: SystemCallError.self) { try FileDescriptor.open(temp.path("file/inner")) }
        #expect(notDirectory?.description == "open \(temp.path("file/inner")): Not a directory (ENOTDIR)")

        let root = try FileDescriptor.open(temp.path(""), options: .directory)
        let exists = #expect(throws: SystemCallError.self) {
            try root.open("file", .writeOnly, options: [.create, .exclusive], permissions: 0o600)
        }
        #expect(exists?.description == "open \(temp.path("file")): File exists (EEXIST)")

        // EACCES: as an unprivileged user, a directory without search permission.
        if getuid() != 0 {
            try root.makeDirectory("closed", permissions: 0)
            let denied = #expect(throws: SystemCallError.self) { try FileDescriptor.open(temp.path("closed/x")) }
            #expect(denied?.description == "open \(temp.path("closed/x")): Permission denied (EACCES)")
            try root.changeMode(of: "closed", 0o700)
        }

        let full = try FileDescriptor.open("/dev/full", .writeOnly)
        let noSpace = #expect(throws: SystemCallError.self) {
            try Array(repeating: UInt8(0), count: 4096).withUnsafeBytes { try full.writeAll($0) }
        }
        #expect(noSpace?.description == "write /dev/full: No space left on device (ENOSPC)")

        #expect(Errno.permissionDenied.description == "Permission denied (EACCES)")
        #expect(Errno(rawValue: 9999).name == "errno 9999")
    }

    /// removeTree deletes a whole tree, symlinks as links: what they point at stays.
    @Test func removeTreeNeverFollowsSymlinks() throws {
        let temp = try TemporaryDirectory()
        let keep = temp.path("keep")
        try FileSystem.makeDirectory(keep)
        _ = FileManager.default.createFile(atPath: keep + "/secret", contents: Data("s".utf8))
        let spool = try FileSystem.makeTemporaryDirectory(prefix: temp.path("spool-"))
        #expect(spool.hasPrefix(temp.path("spool-")) && spool.count == temp.path("spool-").count + 6)
        #expect(try FileSystem.status(spool)?.permissions == 0o700)
        let directory = try FileDescriptor.open(spool, options: .directory)
        try directory.makeDirectory("a", permissions: 0o755)
        try directory.open("a", options: .directory).makeSymbolicLink("out", to: keep)
        try directory.makeSymbolicLink("secret", to: keep + "/secret")
        _ = try directory.open("a/b", .writeOnly, options: [.create], permissions: 0o600)
        try directory.rename("a/b", to: "c")
        #expect(try directory.entries().sorted() == ["a", "c", "secret"])

        try FileSystem.removeTree(spool + "/")
        #expect(try FileSystem.status(spool) == nil)
        #expect(try FileSystem.readFile(keep + "/secret", limit: 10) == Array("s".utf8))
        try FileSystem.removeTree(spool)  // nothing there: nothing to do
    }

    @Test func processes() {
        #expect(Processes.currentID == getpid())
        #expect(!Processes.isGone(Processes.currentID))
    }
}
