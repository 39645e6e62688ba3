// libFuzzer target: image-reference parsing (ImageReference(normalizing:)), and the small parsers
// beside it (Digest(parsing:), Platform(parsing:)), on the input as UTF-8 text.
// Checks: no crash; a name that parses normalizes to a fixed point (its description parses to
// itself), and the parsed digest and platform print back as text that parses to the same value.
import Core
import FuzzSupport
import OCI

@main
enum Main {
    static func main() { runLibFuzzer(fuzz) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let reference = try? ImageReference(normalizing: text) {
        precondition(reference.tag != nil || reference.digest != nil, "\(text): neither tag nor digest")
        let again: ImageReference
        do {
            again = try ImageReference(normalizing: reference.description)
        } catch {
            preconditionFailure("\(text) → \(reference) does not parse: \(error)")
        }
        precondition(again == reference, "\(text) → \(reference) → \(again)")
    }
    if let digest = Digest(parsing: text) {
        precondition(Digest(parsing: digest.description) == digest, "digest \(text)")
    }
    if let platform = Platform(parsing: text) {
        precondition(Platform(parsing: platform.description) == platform, "platform \(text) → \(platform)")
    }
    return 0
}
