import Core

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An image's JSON document that points at others: an index (OCI image index, Docker manifest
/// list) or a manifest. The one place that decides which a document is, for verify, import
/// and status alike.
public enum Document: Sendable {
    case index(Index)
    case manifest(Manifest)

    /// Decodes `bytes` as the kind of document it is: by `declaredMediaType` (the descriptor's),
    /// else the document's own `mediaType`, else its keys (`manifests` → index, `layers` →
    /// manifest), as containerd classifies documents that lack a media type.
    /// - Throws: `DocumentError.notADocument` for anything else (an attestation's statement, a
    ///   config); `DecodingError` when a document of the kind found does not decode.
    public init(decoding bytes: [UInt8], declaredMediaType: String? = nil) throws {
        let data = Data(bytes)
        switch try Self.kind(of: data, declaredMediaType: declaredMediaType) {
        case .index: self = .index(try JSONDecoder().decode(Index.self, from: data))
        case .manifest: self = .manifest(try JSONDecoder().decode(Manifest.self, from: data))
        }
    }

    /// The media type a descriptor of this document carries: its own, else its kind's OCI type.
    public var mediaType: String {
        switch self {
        case .index(let index): return index.mediaType.flatMap { $0.isEmpty ? nil : $0 } ?? MediaType.ociIndex
        case .manifest(let manifest): return manifest.mediaType.flatMap { $0.isEmpty ? nil : $0 } ?? MediaType.ociManifest
        }
    }

    public enum Kind: Sendable { case index, manifest }

    public var kind: Kind {
        switch self {
        case .index: return .index
        case .manifest: return .manifest
        }
    }

    /// The kind a media type names; nil for any other type (a layer, a config, an artifact's).
    public static func kind(ofMediaType type: String?) -> Kind? {
        if MediaType.isIndex(type) { return .index }
        if MediaType.isManifest(type) { return .manifest }
        return nil
    }

    private static func kind(of data: Data, declaredMediaType: String?) throws -> Kind {
        if let declared = declaredMediaType, !declared.isEmpty {
            guard let kind = kind(ofMediaType: declared) else { throw DocumentError.notADocument(mediaType: declared) }
            return kind
        }
        let probe = try JSONDecoder().decode(Probe.self, from: data)
        if let own = probe.mediaType, !own.isEmpty {
            guard let kind = kind(ofMediaType: own) else { throw DocumentError.notADocument(mediaType: own) }
            return kind
        }
        if probe.keys.contains("manifests") { return .index }
        if probe.keys.contains("layers") { return .manifest }
        throw DocumentError.notADocument(mediaType: nil)
    }

    /// A JSON object's top-level keys and `mediaType`.
    private struct Probe: Decodable {
        var keys: Set<String>
        var mediaType: String?

        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            keys = Set(container.allKeys.map(\.stringValue))
            mediaType = try? container.decode(String.self, forKey: AnyKey(stringValue: "mediaType"))
        }
    }
}

public enum DocumentError: Error, CustomStringConvertible, Equatable {
    /// Neither an index nor a manifest (`mediaType` when it names one).
    case notADocument(mediaType: String?)

    public var description: String {
        switch self {
        case .notADocument(let type?): return "a \(type), neither an image index nor a manifest"
        case .notADocument(nil): return "neither an image index nor a manifest"
        }
    }
}
