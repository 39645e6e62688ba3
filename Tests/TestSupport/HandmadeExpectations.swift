import Foundation

/// The facts Fixtures/handmade.py wrote next to its archives (handmade/expectations.json).
public enum HandmadeExpectations {
    /// The entry of one archive, e.g. `fixture("docker29-buildx-load.tar")["index"]`.
    public static func fixture(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.path("handmade/expectations.json")))
        let table = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] ?? [:]
        guard let entry = table[name] else { throw ExpectationsError.noEntry(name) }
        return entry
    }

    enum ExpectationsError: Error { case noEntry(String) }
}
