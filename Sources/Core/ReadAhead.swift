import Dispatch

/// Reads an `InputFile` on a thread of its own, up to `depth` chunks ahead of its consumer, so
/// that the kernel's copy out of the pipe or page cache (`read`) overlaps with what the consumer
/// does with the bytes (hashing them, above all: on a reload nearly all the work). The chunks are
/// a ring of `depth` buffers allocated once; the reader waits when all of them are full.
///
/// Used once, by `InputFile.forEachChunk(readAhead:)`. If the consumer stops early, the reader
/// stops at its next chunk; the buffers live until the reader has finished.
final class ReadAhead: @unchecked Sendable {
    private let input: InputFile
    private let buffers: [UnsafeMutableRawBufferPointer]
    /// Buffers the reader may fill; buffers the consumer may take, in order.
    /// (Both start at 0: libdispatch traps when a semaphore is freed below its initial value,
    /// as `free` is when the consumer stops before the end.)
    private let free = DispatchSemaphore(value: 0)
    private let filled = DispatchSemaphore(value: 0)
    /// Per buffer, written by the reader before `filled` is signalled: the bytes read (0: the
    /// end), or nil when reading failed (`failure`).
    private var counts: [Int?]
    private var failure: InputError?
    /// Set by the consumer (then `free` is signalled), read by the reader after `free.wait()`.
    private var stopped = false
    private let stopLock = DispatchSemaphore(value: 1)
    private let queue = DispatchQueue(label: "kind-node-import.read-ahead")

    init(_ input: InputFile, chunkSize: Int, depth: Int) {
        self.input = input
        buffers = (0..<max(2, depth)).map { _ in .allocate(byteCount: chunkSize, alignment: 64) }
        counts = Array(repeating: 0, count: buffers.count)
        for _ in buffers { free.signal() }
    }

    deinit {
        for buffer in buffers { buffer.deallocate() }
    }

    /// Hands every chunk of the input to `sink`, in order, until the end of the input.
    func run(_ sink: ByteSink) throws {
        queue.async { self.readAll() }
        var index = 0
        do {
            while true {
                filled.wait()
                guard let count = counts[index] else { throw failure! }
                if count == 0 { return }
                try sink(UnsafeRawBufferPointer(rebasing: buffers[index][0..<count]))
                free.signal()
                index = (index + 1) % buffers.count
            }
        } catch {
            stop()
            throw error
        }
    }

    private func stop() {
        stopLock.wait()
        stopped = true
        stopLock.signal()
        free.signal()
    }

    private var isStopped: Bool {
        stopLock.wait()
        defer { stopLock.signal() }
        return stopped
    }

    /// The reader: fills the free buffers in ring order until the end, a failure or a stop.
    private func readAll() {
        var index = 0
        while true {
            free.wait()
            if isStopped { return }
            do {
                let count = try input.read(into: buffers[index])
                counts[index] = count
                filled.signal()
                if count == 0 { return }
            } catch {
                failure = error
                counts[index] = nil
                filled.signal()
                return
            }
            index = (index + 1) % buffers.count
        }
    }
}
