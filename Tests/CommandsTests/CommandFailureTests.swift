import Core
import Glibc
import GRPCCore
import Import
import LayerApplier
import POSIX
import Tar
import Testing

@testable import Commands

/// The exit code comes from the innermost cause: 65 the archive, 66 the input cannot be opened,
/// 69 containerd, 74 this machine's I/O.
@Suite struct CommandFailureTests {
    let digest = Digest(hex: String(repeating: "a", count: 64))!

    func write(_ errno: Errno) -> SystemCallError {
        SystemCallError(operation: "write", path: "/var/lib/containerd/snapshots/7/fs/big.txt", errno: errno)
    }

    func unpack(_ cause: (any Error)?) -> ImportError {
        .unpack(image: "kni/app:v1", layer: 0, digest: digest, reason: cause.map { "\($0)" } ?? "bad", cause: cause)
    }

    @Test func theInputThatCannotBeOpenedIs66AndOneThatCannotBeReadIs74() {
        #expect(CommandFailure.status(of: InputError.open(path: "/x.tar", errno: ENOENT)) == .noInput)
        #expect(CommandFailure.status(of: InputError.read(path: "/x.tar", errno: EIO)) == .ioError)
        // A layer's spooled copy that cannot be opened again is this machine's fault, not the input's.
        #expect(CommandFailure.status(of: unpack(InputError.open(path: "/var/tmp/kni-spool-1-x/3", errno: ENOENT))) == .ioError)
    }

    @Test func aFullDiskUnderAnUnpackIs74AndKeepsThePathAndErrno() {
        let applying = ApplyError(path: "big.txt", reason: "\(write(.noSpace))", cause: write(.noSpace))
        let failure = CommandFailure(unpack(applying), doing: "import failed on this machine, nothing was committed")
        #expect(failure.status == .ioError)
        #expect(failure.message.contains("kni/app:v1: layer 1 sha256:aaaa"))
        #expect(failure.message.contains("write /var/lib/containerd/snapshots/7/fs/big.txt: No space left on device (ENOSPC)"))
        #expect(CommandFailure.status(of: unpack(ApplyError(path: "x", reason: "input/output error", cause: write(Errno(EIO))))) == .ioError)
        #expect(CommandFailure.status(of: write(Errno(EDQUOT))) == .ioError)
    }

    @Test func whatTheLayerAsksThatConflictsIsTheArchives() {
        // A file where the layer needs a directory: the layer's fault, whatever errno said it.
        #expect(CommandFailure.status(of: unpack(ApplyError(path: "a/b", reason: "a file is in the way", cause: write(.notDirectory)))) == .dataError)
        #expect(CommandFailure.status(of: unpack(ApplyError(path: "../x", reason: "the path climbs above the layer's root", cause: nil))) == .dataError)
        #expect(CommandFailure.status(of: unpack(nil)) == .dataError)
        #expect(CommandFailure.status(of: unpack(TarError.truncated(entry: "a", offset: 0, missingBytes: 10))) == .dataError)
    }

    @Test func containerdIs69() {
        #expect(CommandFailure.status(of: ImportError.containerd("cannot create a lease")) == .unavailable)
        #expect(CommandFailure.status(of: RPCError(code: .unavailable, message: "connection refused")) == .unavailable)
    }
}
