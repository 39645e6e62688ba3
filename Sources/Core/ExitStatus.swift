/// The process exit codes every command uses (BSD sysexits.h).
public enum ExitStatus: Int32, Sendable {
    /// Everything was consistent / committed.
    case ok = 0
    /// EX_USAGE: the command line is wrong.
    case usage = 64
    /// EX_DATAERR: the archive is inconsistent or hostile.
    case dataError = 65
    /// EX_NOINPUT: the input cannot be opened.
    case noInput = 66
    /// EX_UNAVAILABLE: containerd cannot be reached or refuses.
    case unavailable = 69
    /// EX_IOERR: this machine's I/O failed: reading the input, or writing the spool or a
    /// snapshot (no space, a device error, a read-only filesystem, no permission).
    case ioError = 74
    /// EX_TEMPFAIL: nothing is wrong, but this run could not finish; the same command with the
    /// option the message names will.
    case tryAgain = 75
}
