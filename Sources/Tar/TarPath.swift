/// Lexical normalization of entry names against the root of a layer, as containerd's
/// applier cleans them (`filepath.Clean`), except that a name climbing above the root is an error.
public enum TarPath {
    /// The components of `name` after removing empty and `.` components and resolving `..`.
    /// A leading `/` is taken as the layer's root. Returns nil when a `..` climbs above the root.
    /// An empty array is the root itself.
    public static func normalize(_ name: [UInt8]) -> [ArraySlice<UInt8>]? {
        var components: [ArraySlice<UInt8>] = []
        for component in name.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if component.count == 1 && component.first == UInt8(ascii: ".") { continue }
            if component.count == 2 && component.allSatisfy({ $0 == UInt8(ascii: ".") }) {
                guard !components.isEmpty else { return nil }
                components.removeLast()
                continue
            }
            components.append(component)
        }
        return components
    }

    /// `normalize` joined back with `/`; nil when it climbs above the root.
    public static func cleaned(_ name: [UInt8]) -> [UInt8]? {
        guard let components = normalize(name) else { return nil }
        return Array(components.joined(separator: [UInt8(ascii: "/")]))
    }
}
