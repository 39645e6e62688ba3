/// Where a stage of the pipeline hands its output: called with each chunk, in order.
/// The buffer is only valid for the duration of the call.
public typealias ByteSink = (UnsafeRawBufferPointer) throws -> Void

/// Human-readable byte counts in binary units ("1.5 MiB").
public func formatBytes(_ count: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(count) B" }
    let tenths = (value * 10).rounded() / 10
    return "\(tenths) \(units[unit])"
}

/// Seconds with two decimals ("1.25 s").
public func formatSeconds(_ seconds: Double) -> String {
    let hundredths = Int((seconds * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction) s"
}
