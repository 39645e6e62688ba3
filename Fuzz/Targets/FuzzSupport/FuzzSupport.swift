// The entry point shared by the fuzz targets. SwiftPM links an executable with its own `main`
// (renamed per module), so each target has a `@main` that hands the fuzz function to libFuzzer's
// driver instead of relying on libFuzzer's `main`.
#if canImport(Glibc)
import Glibc
#endif

/// What libFuzzer calls with each input.
public typealias FuzzFunction = @convention(c) (UnsafePointer<UInt8>, Int) -> CInt

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: FuzzFunction
) -> CInt

/// Runs libFuzzer with this process's arguments on `function`, and exits with its status.
public func runLibFuzzer(_ function: FuzzFunction) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, function))
}
