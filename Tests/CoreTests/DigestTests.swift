import Testing

@testable import Core

@Suite struct DigestTests {
    @Test func onlyWellFormedSHA256DigestsParse() {
        let hex = String(repeating: "ab", count: 32)
        #expect(Digest(parsing: "sha256:" + hex)?.hex == hex)
        #expect(Digest(parsing: "sha256:" + hex.uppercased()) == nil)
        #expect(Digest(parsing: "sha512:" + hex) == nil)
        #expect(Digest(parsing: "sha256:" + hex.dropLast()) == nil)
        #expect(Digest(hex: hex)?.description == "sha256:" + hex)
    }

    @Test func digestsOfBytesAreSHA256() {
        // sha256("") and sha256("abc"), FIPS 180-2's examples.
        #expect(Digest.of([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.of(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var digester = Digester()
        for part in ["a", "b", "c"] { Array(part.utf8).withUnsafeBytes { digester.update($0) } }
        #expect(digester.finalize() == Digest.of(Array("abc".utf8)) && digester.count == 3)
    }
}
