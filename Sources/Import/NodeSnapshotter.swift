#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The snapshotter CRI uses on a node, read from containerd's config the way kind reads it:
/// version 2 `[plugins."io.containerd.grpc.v1.cri".containerd] snapshotter = "…"`,
/// version 3 `[plugins."io.containerd.cri.v1.images"] snapshotter = "…"`; else `overlayfs`.
public enum NodeSnapshotter {
    public static let fallback = "overlayfs"
    public static let defaultConfig = "/etc/containerd/config.toml"

    /// Reads `path`; a missing or unreadable config means the default.
    public static func detect(configPath: String = defaultConfig) -> String {
        guard let file = fopen(configPath, "r") else { return fallback }
        defer { fclose(file) }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            text += buffer[0..<count]
            if text.count > 4 << 20 { break }
        }
        return fromConfig(String(decoding: text, as: UTF8.self)) ?? fallback
    }

    /// The CRI snapshotter a config names, if any (a line-oriented reading of the TOML tables
    /// and keys involved; comments and other tables are skipped).
    public static func fromConfig(_ text: String) -> String? {
        let tables = [
            #"plugins."io.containerd.grpc.v1.cri".containerd"#,
            #"plugins."io.containerd.cri.v1.images""#,
        ]
        var table = ""
        var found: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#"), !line[..<hash].contains("\"") { line = line[..<hash] }
            line = line.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[") {
                table = String(line.filter { $0 != " " && $0 != "\t" && $0 != "[" && $0 != "]" })
                    .replacingOccurrences(of: "'", with: "\"")
                continue
            }
            guard tables.contains(table), let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: " \t")
            guard key == "snapshotter" else { continue }
            let value = line[line.index(after: equals)...].trimmingCharacters(in: " \t\"'")
            if !value.isEmpty { found = value }
        }
        return found
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in characters: String) -> String {
        let set = Set(characters)
        return String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }

    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
