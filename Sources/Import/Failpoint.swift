import POSIX

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Places where fault-injection tests stop an import. With `KNI_FAILPOINT=PHASE:FILE` in the
/// environment, an import that reaches PHASE creates FILE and waits until FILE is removed, so a
/// test can kill containerd or the import exactly there (docs/reliability.md). Unset (always,
/// outside those tests), reaching a failpoint costs one getenv.
enum Failpoint: String, Sendable {
    /// The content phase begins (blobs not stored while reading are about to be).
    case content
    /// The first layer's snapshot is prepared and about to be written.
    case unpack
    /// Every layer is decoded, the blobs sent and not committed; the verdict is next.
    case verdict
    /// Everything is committed; the image records are about to be written.
    case records

    func reached() async {
        guard let setting = getenv("KNI_FAILPOINT").map({ String(cString: $0) }),
            let colon = setting.firstIndex(of: ":"), setting[..<colon] == rawValue
        else { return }
        let file = String(setting[setting.index(after: colon)...])
        _ = try? FileDescriptor.open(file, .writeOnly, options: [.create], permissions: 0o600)
        while (try? FileSystem.status(file)) != nil {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
