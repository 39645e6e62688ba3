/// A reader for the part of TOML (v1.0) that containerd's config files use, enough to find one
/// value reliably: every key of the document with its full dotted path (`[a."b.c"]` then
/// `d.e = 1` is `["a", "b.c", "d", "e"]`), string and integer values kept, other values (floats,
/// booleans, dates, arrays) parsed and skipped. Inline tables are flattened into paths; keys
/// inside `[[array tables]]` get an `"[]"` component so they never match a plain table's path.
/// Syntax it does not understand is an error with its line, not a guess.
struct TOMLReader {
    enum Value: Equatable {
        case string(String)
        case integer(Int)
        case boolean(Bool)
        /// A float, date or array: present, not kept.
        case other
    }

    struct SyntaxError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    /// The document's values by full key path.
    private(set) var values: [[String]: Value] = [:]

    private let bytes: [UInt8]
    private var position = 0
    private var line = 1

    init(_ text: String) throws(SyntaxError) {
        bytes = Array(text.utf8)
        try parseDocument()
    }

    subscript(path: String...) -> Value? { values[path] }

    // MARK: Document structure

    private mutating func parseDocument() throws(SyntaxError) {
        var table: [String] = []
        while true {
            skipBlank(newlines: true)
            guard let byte = peek() else { return }
            if byte == UInt8(ascii: "[") {
                position += 1
                let isArray = peek() == UInt8(ascii: "[")
                if isArray { position += 1 }
                skipBlank(newlines: false)
                table = try parseKey()
                try expect("]")
                if isArray {
                    try expect("]")
                    table.append("[]")
                }
            } else {
                let key = try parseKey()
                try expect("=")
                try parseValue(at: table + key)
            }
            try endOfLine()
        }
    }

    /// A dotted key: bare, "basic" or 'literal' parts separated by dots.
    private mutating func parseKey() throws(SyntaxError) -> [String] {
        var parts: [String] = []
        while true {
            skipBlank(newlines: false)
            guard let byte = peek() else { throw error("a key is cut off by the end of the file") }
            switch byte {
            case UInt8(ascii: "\""): parts.append(try parseBasicString())
            case UInt8(ascii: "'"): parts.append(try parseLiteralString())
            default:
                let start = position
                while let next = peek(), isBareKeyByte(next) { position += 1 }
                guard position > start else { throw error("expected a key, found \(describe(byte))") }
                parts.append(String(decoding: bytes[start..<position], as: UTF8.self))
            }
            skipBlank(newlines: false)
            guard peek() == UInt8(ascii: ".") else { return parts }
            position += 1
        }
    }

    /// One value, stored at `path` (thrown away when `path` is nil: array elements).
    private mutating func parseValue(at path: [String]?) throws(SyntaxError) {
        skipBlank(newlines: false)
        guard let byte = peek() else { throw error("a value is missing at the end of the file") }
        switch byte {
        case UInt8(ascii: "\""):
            store(.string(try parseBasicString()), at: path)
        case UInt8(ascii: "'"):
            store(.string(try parseLiteralString()), at: path)
        case UInt8(ascii: "["):
            position += 1
            try skipArray()
            store(.other, at: path)
        case UInt8(ascii: "{"):
            position += 1
            try parseInlineTable(at: path)
        default:
            let start = position
            while let next = peek(), !isValueTerminator(next) { position += 1 }
            guard position > start else { throw error("expected a value, found \(describe(byte))") }
            let token = String(decoding: bytes[start..<position], as: UTF8.self)
            if let integer = Self.integer(token) {
                store(.integer(integer), at: path)
            } else if token == "true" || token == "false" {
                store(.boolean(token == "true"), at: path)
            } else if ["inf", "nan"].contains(token) || token.first.map({ $0.isNumber || $0 == "+" || $0 == "-" }) == true {
                store(.other, at: path)  // float, date, inf, nan
            } else {
                throw error("\"\(token)\" is not a TOML value")
            }
        }
    }

    /// After `[`: values separated by commas, across lines, comments allowed, trailing comma allowed.
    private mutating func skipArray() throws(SyntaxError) {
        while true {
            skipBlank(newlines: true)
            guard let byte = peek() else { throw error("an array is not closed") }
            if byte == UInt8(ascii: "]") {
                position += 1
                return
            }
            try parseValue(at: nil)
            skipBlank(newlines: true)
            if peek() == nil {
                throw error("an array is not closed")
            } else if peek() == UInt8(ascii: ",") {
                position += 1
            } else if peek() != UInt8(ascii: "]") {
                throw error("expected , or ] in an array, found \(describe(peek()))")
            }
        }
    }

    /// After `{`: `key = value` pairs separated by commas (newlines tolerated, as go-toml does).
    private mutating func parseInlineTable(at path: [String]?) throws(SyntaxError) {
        skipBlank(newlines: true)
        if peek() == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            let key = try parseKey()
            try expect("=")
            try parseValue(at: path.map { $0 + key })
            skipBlank(newlines: true)
            guard let byte = peek() else { throw error("an inline table is not closed") }
            position += 1
            if byte == UInt8(ascii: "}") { return }
            guard byte == UInt8(ascii: ",") else { throw error("expected , or } in an inline table, found \(describe(byte))") }
            skipBlank(newlines: true)
        }
    }

    private mutating func store(_ value: Value, at path: [String]?) {
        if let path { values[path] = value }
    }

    // MARK: Strings

    /// `"…"` with escapes, or `"""…"""` across lines.
    private mutating func parseBasicString() throws(SyntaxError) -> String {
        let multiline = starts(with: "\"\"\"")
        position += multiline ? 3 : 1
        if multiline { skipOneNewline() }
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw error("a string is not closed") }
            if multiline, starts(with: "\"\"\"") {
                position += 3
                // Up to two quotes right before the closing delimiter belong to the string.
                while peek() == UInt8(ascii: "\"") {
                    out.append(UInt8(ascii: "\""))
                    position += 1
                }
                return String(decoding: out, as: UTF8.self)
            }
            if !multiline && byte == UInt8(ascii: "\"") {
                position += 1
                return String(decoding: out, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\n") {
                guard multiline else { throw error("a string is not closed on its line") }
                line += 1
            }
            position += 1
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            guard let escaped = peek() else { throw error("a string is not closed") }
            position += 1
            switch escaped {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "e"): out.append(0x1B)
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = escaped == UInt8(ascii: "u") ? 4 : 8
                guard position + count <= bytes.count,
                    let scalar = UInt32(String(decoding: bytes[position..<position + count], as: UTF8.self), radix: 16)
                        .flatMap(Unicode.Scalar.init)
                else { throw error("a \\u escape is not a Unicode scalar") }
                position += count
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                // In """…""", a line-ending backslash trims the newline and the whitespace after it.
                guard multiline else { throw error("unknown escape \\\(describe(escaped))") }
                position -= 1
                while let next = peek(), next == 0x20 || next == 0x09 || next == 0x0D || next == 0x0A {
                    if next == 0x0A { line += 1 }
                    position += 1
                }
            default:
                throw error("unknown escape \\\(describe(escaped))")
            }
        }
    }

    /// `'…'` verbatim, or `'''…'''` across lines.
    private mutating func parseLiteralString() throws(SyntaxError) -> String {
        let multiline = starts(with: "'''")
        position += multiline ? 3 : 1
        if multiline { skipOneNewline() }
        let start = position
        while true {
            guard let byte = peek() else { throw error("a string is not closed") }
            if multiline, starts(with: "'''") {
                var end = position
                position += 3
                while peek() == UInt8(ascii: "'") {
                    position += 1
                    end += 1
                }
                return String(decoding: bytes[start..<end], as: UTF8.self)
            }
            if !multiline && byte == UInt8(ascii: "'") {
                position += 1
                return String(decoding: bytes[start..<position - 1], as: UTF8.self)
            }
            if byte == UInt8(ascii: "\n") {
                guard multiline else { throw error("a string is not closed on its line") }
                line += 1
            }
            position += 1
        }
    }

    // MARK: Lexical helpers

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private func starts(with text: String) -> Bool {
        let pattern = Array(text.utf8)
        return position + pattern.count <= bytes.count && Array(bytes[position..<position + pattern.count]) == pattern
    }

    /// Spaces, tabs and comments; newlines too when `newlines`.
    private mutating func skipBlank(newlines: Bool) {
        while let byte = peek() {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                position += 1
            case UInt8(ascii: "\n") where newlines:
                position += 1
                line += 1
            case UInt8(ascii: "#"):
                while let next = peek(), next != UInt8(ascii: "\n") { position += 1 }
            default:
                return
            }
        }
    }

    private mutating func skipOneNewline() {
        if starts(with: "\r\n") {
            position += 2
            line += 1
        } else if peek() == UInt8(ascii: "\n") {
            position += 1
            line += 1
        }
    }

    private mutating func expect(_ character: Character) throws(SyntaxError) {
        skipBlank(newlines: false)
        guard let byte = peek(), byte == character.asciiValue else {
            throw error("expected \(character), found \(describe(peek()))")
        }
        position += 1
    }

    /// Only a comment may follow a table header or a key/value pair on its line.
    private mutating func endOfLine() throws(SyntaxError) {
        skipBlank(newlines: false)
        guard let byte = peek() else { return }
        guard byte == UInt8(ascii: "\n") else { throw error("unexpected \(describe(byte)) where the line should end") }
        position += 1
        line += 1
    }

    private func isBareKeyByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    private func isValueTerminator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "#")
            || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\t")
            || (byte == UInt8(ascii: " ") && !isDateTimeSpace())
    }

    /// The space between a date and a time (`1979-05-27 07:32:00Z`) is part of the value.
    private func isDateTimeSpace() -> Bool {
        guard position >= 10, position + 1 < bytes.count else { return false }
        let date = bytes[(position - 10)..<position]
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        return date[date.startIndex + 4] == UInt8(ascii: "-") && date[date.startIndex + 7] == UInt8(ascii: "-")
            && isDigit(bytes[position + 1])
    }

    /// A TOML integer: decimal with optional sign and underscores, or 0x/0o/0b.
    private static func integer(_ token: String) -> Int? {
        let plain = token.filter { $0 != "_" }
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where plain.hasPrefix(prefix) {
            return Int(plain.dropFirst(2), radix: radix)
        }
        return Int(plain)
    }

    private func describe(_ byte: UInt8?) -> String {
        guard let byte else { return "the end of the file" }
        if byte == UInt8(ascii: "\n") { return "the end of the line" }
        return byte >= 0x20 && byte < 0x7F ? "\"\(Character(Unicode.Scalar(byte)))\"" : "byte 0x\(String(byte, radix: 16))"
    }

    private func error(_ message: String) -> SyntaxError { SyntaxError(line: line, message: message) }
}
