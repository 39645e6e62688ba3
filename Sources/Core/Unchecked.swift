/// A value handed to another thread or task that alone uses it meanwhile (the compiler cannot
/// see that hand-over, so the caller vouches for it).
public struct Unchecked<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
