import Core

/// Walks an image from the descriptor a record (or index.json) points at down through nested
/// indexes to its manifests, one document at a time: the caller reads each document the walk
/// asks for (from an archive, or from containerd's content store) and hands it back, so a
/// synchronous and an asynchronous reader walk alike. Manifests are the leaves, in the order a
/// depth-first reading of the indexes meets them, each with the platform it is listed under.
///
/// ```swift
/// var walk = IndexWalk(root: target)
/// while let next = try walk.next() { try walk.provide(try Document(decoding: read(next), declaredMediaType: next.mediaType)) }
/// let chosen = IndexEntry.choose(walk.leaves, for: platform, descriptor: \.descriptor, platformOf: \.platform)
/// ```
public struct IndexWalk: Sendable {
    public struct Leaf: Sendable {
        public var descriptor: Descriptor
        /// The platform the manifest is listed under (the root's own, for a single manifest).
        public var platform: Platform?

        public init(descriptor: Descriptor, platform: Platform?) {
            self.descriptor = descriptor
            self.platform = platform
        }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Indexes nest deeper than the walk's limit.
        case tooDeep(Digest, limit: Int)
        /// The root is neither an index nor a manifest.
        case notAnImage(Digest, mediaType: String?)

        public var description: String {
            switch self {
            case .tooDeep(_, let limit): return "image indexes nest more than \(limit) levels deep"
            case .notAnImage(_, let type): return "it points at a \(type ?? "document of no known type"), which is no image"
            }
        }
    }

    public let root: Descriptor
    public let maxDepth: Int
    /// The manifests found so far; all of them once `next()` returned nil.
    public private(set) var leaves: [Leaf] = []
    /// Whether the root is an index (else the image is a single manifest).
    public private(set) var rootIsIndex = false
    /// Descriptors still to look at, the next first, with the platform and depth they came with.
    private var pending: [(descriptor: Descriptor, platform: Platform?, depth: Int)]

    public init(root: Descriptor, maxDepth: Int = 8) {
        self.root = root
        self.maxDepth = maxDepth
        pending = [(root, root.platform, 0)]
    }

    /// The descriptor whose document the walk needs next: an index, or an entry whose media type
    /// does not say what it is; nil once every manifest is found. Entries of another media type
    /// nested in an index (an artifact's) are skipped, as containerd skips them.
    public mutating func next() throws(Failure) -> Descriptor? {
        while let (descriptor, platform, depth) = pending.first {
            switch Document.kind(ofMediaType: descriptor.mediaType) {
            case .manifest?:
                pending.removeFirst()
                leaves.append(Leaf(descriptor: descriptor, platform: platform))
            case .index?:
                guard depth < maxDepth else { throw .tooDeep(descriptor.digest, limit: maxDepth) }
                return descriptor
            case nil where descriptor.mediaType?.isEmpty ?? true:
                return descriptor
            case nil:
                guard depth > 0 else { throw .notAnImage(descriptor.digest, mediaType: descriptor.mediaType) }
                pending.removeFirst()
            }
        }
        return nil
    }

    /// The document of an entry of unknown media type cannot be read: it is taken for a
    /// manifest, whose own check then reports what is missing (an absent platform's, say).
    public mutating func provideUnread() {
        guard !pending.isEmpty else { return }
        let (descriptor, platform, _) = pending.removeFirst()
        leaves.append(Leaf(descriptor: descriptor, platform: platform))
    }

    /// The document of the descriptor `next()` returned.
    public mutating func provide(_ document: Document) throws(Failure) {
        guard !pending.isEmpty else { return }
        let (descriptor, platform, depth) = pending.removeFirst()
        switch document {
        case .manifest:
            leaves.append(Leaf(descriptor: descriptor, platform: platform))
        case .index(let index):
            guard depth < maxDepth else { throw .tooDeep(descriptor.digest, limit: maxDepth) }
            if depth == 0 { rootIsIndex = true }
            pending.insert(contentsOf: index.manifests.map { ($0, $0.platform, depth + 1) }, at: 0)
        }
    }
}
