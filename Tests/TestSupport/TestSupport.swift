import Foundation

/// The package's root directory (two levels above this file).
public let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A fresh directory under the system temp dir, removed by `remove()`.
public final class TemporaryDirectory {
    public let url: URL

    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("kni-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func path(_ component: String) -> String { url.appendingPathComponent(component).path }

    /// Removes the directory; `rm -rf` when Foundation cannot (paths longer than PATH_MAX, as
    /// HostileLayerTests' 2500-level tree).
    public func remove() {
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        do {
            try FileManager.default.removeItem(at: url)
        } catch {
            _ = try? run(["rm", "-rf", "--one-file-system", url.path])
        }
    }

    deinit { remove() }
}

/// What a finished process printed and returned.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: String
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

public enum ToolError: Error, CustomStringConvertible {
    case failed(String, ProcessResult)

    public var description: String {
        switch self {
        case .failed(let command, let result):
            return "\(command) exited \(result.status): \(result.stderr)"
        }
    }
}

/// How long one process of a test may run before it is killed (`KNI_TEST_PROCESS_TIMEOUT`
/// seconds, default 300): a hang fails its test instead of stalling the suite.
public let processTimeout: Double = {
    ProcessInfo.processInfo.environment["KNI_TEST_PROCESS_TIMEOUT"].flatMap(Double.init) ?? 300
}()

/// Runs `arguments[0]` (searched in PATH) with the rest as arguments, feeding `stdin` from a
/// file when given, and waits for it; after `processTimeout` it is killed (SIGKILL, exit status
/// 137 as a shell reports it, and a line saying so at the end of its stderr).
@discardableResult
public func run(_ arguments: [String], stdinFile: String? = nil, stdinData: Data? = nil, directory: String? = nil)
    throws -> ProcessResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    var input: Pipe?
    if let stdinFile {
        process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: stdinFile))
    } else if stdinData != nil {
        input = Pipe()
        process.standardInput = input
    } else {
        process.standardInput = FileHandle.nullDevice
    }
    try process.run()
    let pid = process.processIdentifier
    nonisolated(unsafe) var timedOut = false
    let watchdog = DispatchWorkItem {
        timedOut = true
        kill(pid, SIGKILL)
    }
    DispatchQueue.global().asyncAfter(deadline: .now() + processTimeout, execute: watchdog)
    defer { watchdog.cancel() }
    if let input, let stdinData {
        let writer = input.fileHandleForWriting
        DispatchQueue.global().async {
            try? writer.write(contentsOf: stdinData)
            try? writer.close()
        }
    }
    // Read both pipes concurrently so neither fills up.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    watchdog.cancel()
    if timedOut {
        let note = "\n[killed after \(Int(processTimeout)) s: \(arguments.joined(separator: " "))]\n"
        return ProcessResult(status: 137, stdout: outData, stderr: String(decoding: errData, as: UTF8.self) + note)
    }
    return ProcessResult(status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs a tool and throws when it fails.
@discardableResult
public func runChecked(_ arguments: [String], directory: String? = nil) throws -> ProcessResult {
    let result = try run(arguments, directory: directory)
    guard result.status == 0 else { throw ToolError.failed(arguments.joined(separator: " "), result) }
    return result
}

/// Generated fixture archives (Fixtures/generate.sh writes them; scripts/test runs it first).
public enum Fixtures {
    public static var directory: URL {
        if let path = ProcessInfo.processInfo.environment["KNI_FIXTURES"] { return URL(fileURLWithPath: path) }
        return packageRoot.appendingPathComponent("Fixtures/generated")
    }

    /// The path of a generated fixture, e.g. `handmade/wrong-diffid.tar`. Fails loudly when the
    /// fixtures were not generated, rather than letting a test pass without them.
    public static func path(_ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FixtureMissing(path: url.path)
        }
        return url.path
    }

    public struct FixtureMissing: Error, CustomStringConvertible {
        public var path: String
        public var description: String {
            "fixture \(path) does not exist: run `bash Fixtures/generate.sh` (scripts/test does)"
        }
    }
}

/// The built `kind-node-import` executable next to the test bundle.
public var builtExecutable: String {
    let candidates = [
        Bundle.main.bundleURL.appendingPathComponent("kind-node-import"),
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kind-node-import"),
        packageRoot.appendingPathComponent(".build/debug/kind-node-import"),
    ]
    return (candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[2]).path
}

/// Bytes of a file.
public func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// The config digest of `archive`'s first image, as `verify --json` reports it.
public func verifiedConfigDigest(_ archive: String) throws -> String {
    struct Report: Decodable {
        struct Image: Decodable { var config: String? }
        var images: [Image]
    }
    let verified = try run([builtExecutable, "verify", "--json", archive])
    return try JSONDecoder().decode(Report.self, from: verified.stdout).images[0].config ?? ""
}

/// A process that runs while the test acts on it (signals, faults), its output in files.
public final class BackgroundProcess {
    public let process = Process()
    private let output: TemporaryDirectory

    /// `environment` is added to this process's own.
    public init(_ arguments: [String], environment: [String: String] = [:]) throws {
        output = try TemporaryDirectory()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = environment.map { "\($0.key)=\($0.value)" } + arguments
        _ = FileManager.default.createFile(atPath: output.path("stdout"), contents: nil)
        _ = FileManager.default.createFile(atPath: output.path("stderr"), contents: nil)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output.path("stdout")))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: output.path("stderr")))
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }

    /// Waits for it to end (killing it after `processTimeout`); its exit status, or 128 + the
    /// signal that ended it.
    public func wait() throws -> ProcessResult {
        let pid = self.pid
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + processTimeout, execute: watchdog)
        defer { watchdog.cancel() }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return ProcessResult(
            status: status, stdout: FileManager.default.contents(atPath: output.path("stdout")) ?? Data(),
            stderr: (try? String(contentsOfFile: output.path("stderr"), encoding: .utf8)) ?? "")
    }
}

/// Waits until `path` exists, at most `seconds`; whether it does.
public func waitForFile(_ path: String, seconds: Double = 120) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if FileManager.default.fileExists(atPath: path) { return true }
        usleep(20_000)
    }
    return false
}

extension Fixtures {
    /// Writes an OCI archive of one image named `name` whose layers are tar-from-spec.py entry
    /// lists (`layers`: JSON, `[[entry, ...], ...]`), with Fixtures/image-from-spec.py.
    public static func makeImage(at path: String, name: String, layers: String) throws {
        try runChecked([
            "python3", packageRoot.appendingPathComponent("Fixtures/image-from-spec.py").path, path, name, layers,
        ])
    }
}
