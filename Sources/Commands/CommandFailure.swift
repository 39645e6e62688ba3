import ArgumentParser
import Compression
import Core
import GRPCCore
import Import
import LayerApplier
import POSIX
import Tar

/// Why a command failed, as it leaves the CLI: the exit code, a message for people and the
/// underlying error. The code is chosen from the cause (README, "Exit codes"): 65 the archive,
/// 66 the input cannot be opened, 69 containerd, 74 this machine's I/O (a full disk, a device
/// error), with the path and errno's words in the message.
struct CommandFailure: Error, CustomStringConvertible {
    var status: ExitStatus
    var message: String
    var cause: any Error

    /// `doing` says what was under way: "import failed, nothing was committed".
    init(_ cause: any Error, doing: String? = nil) {
        self.cause = cause
        status = Self.status(of: cause)
        message = doing.map { "\($0): \(cause)" } ?? "\(cause)"
    }

    /// A failure whose words the command chose itself.
    init(_ status: ExitStatus, _ message: String, cause: any Error) {
        self.status = status
        self.message = message
        self.cause = cause
    }

    var description: String { message }

    /// Prints the message on standard error and gives the exit code to throw.
    func report() -> ExitCode {
        writeStandardError("kind-node-import: \(message)\n")
        return ExitCode(status.rawValue)
    }

    /// The exit code `error` calls for, from its innermost known cause.
    static func status(of error: any Error) -> ExitStatus {
        switch error {
        case let error as CommandFailure:
            return error.status
        case let error as InputError:
            if case .open = error { return .noInput }
            return .ioError
        case is SystemCallError:
            // A call this tool made on its own files (the spool, a snapshot directory).
            return .ioError
        case let error as ApplyError:
            // The layer's entry could not be applied: this machine's fault when the system call
            // failed for want of space, a device or permission, else the layer's.
            if let cause = error.cause, cause.errno.isMachineFailure { return .ioError }
            return .dataError
        case let error as ImportError:
            switch error {
            case .containerd: return .unavailable
            // The layer's spooled copy could not be read back: this machine's I/O, not the input's.
            case .unpack(_, _, _, _, is InputError): return .ioError
            case .unpack(_, _, _, _, let cause?): return status(of: cause)
            case .unpack: return .dataError
            case .unsupported: return .dataError
            case .layerNotSpooled, .fileNotSpooled: return .tryAgain
            }
        case is TarError, is DecompressionError:
            return .dataError
        case is RPCError:
            return .unavailable
        default:
            return .unavailable
        }
    }
}
