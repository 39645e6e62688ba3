import Core
import Dispatch
import Import
import POSIX

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// SIGTERM and SIGINT during an import (kind-load's TERM, a Ctrl-C): the import's lease is
/// deleted at once, so containerd's GC removes what it held now rather than when it expires,
/// the spool is removed, and the process exits 143 or 130. A signal that arrives while the
/// image records are written waits for them (all or none); once it arrived, none are written.
enum ImportSignals {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func install(_ interruption: ImportInterruption, socket: String, namespace: String) {
        let queue = DispatchQueue(label: "kind-node-import.signals")
        for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                stop(interruption, signal: number, name: name, socket: socket, namespace: namespace)
            }
            source.resume()
            sources.append(source)
        }
    }

    private static func stop(
        _ interruption: ImportInterruption, signal number: Int32, name: String, socket: String, namespace: String
    ) -> Never {
        let state = interruption.interrupt()
        var undone = "nothing was committed"
        if state.committed { undone = "the image records were already written: the import is complete" }
        if let lease = state.lease {
            let done = DispatchSemaphore(value: 0)
            let outcome = ResultBox()
            Task {
                outcome.deleted = await ImportInterruption.deleteLease(lease, socket: socket, namespace: namespace)
                done.signal()
            }
            done.wait()
            if !state.committed {
                undone +=
                    outcome.deleted
                    ? "; its lease is deleted, containerd removes what it held"
                    : "; its lease could not be deleted now and expires (--lease-expiry)"
            }
        }
        if let spool = state.spool { try? FileSystem.removeTree(spool) }
        writeStandardError("kind-node-import: import interrupted by \(name): \(undone)\n")
        exit(128 + number)
    }

    private final class ResultBox: @unchecked Sendable {
        var deleted = false
    }
}
