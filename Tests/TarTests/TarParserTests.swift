import Foundation
import Testing
import TestSupport

@testable import Tar

/// Collects every entry and its data.
final class Collector: TarConsumer {
    var entries: [(entry: TarEntry, data: [UInt8])] = []
    var ended = 0

    func tarEntryBegan(_ entry: TarEntry) throws { entries.append((entry, [])) }
    func tarEntryData(_ bytes: UnsafeRawBufferPointer) throws { entries[entries.count - 1].data += bytes }
    func tarEntryEnded() throws { ended += 1 }

    func entry(_ path: String) -> (entry: TarEntry, data: [UInt8])? { entries.first { $0.entry.path == path } }
}

/// Parses `bytes`, feeding them `chunk` bytes at a time.
func parse(_ bytes: [UInt8], chunk: Int = 1 << 16) throws -> Collector {
    let collector = Collector()
    let parser = TarParser(consumer: collector)
    var offset = 0
    try bytes.withUnsafeBytes { raw in
        while offset < raw.count {
            let end = min(offset + chunk, raw.count)
            try parser.feed(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
            offset = end
        }
    }
    try parser.finish()
    return collector
}

/// Writes a tar with Python's tarfile from a small script; `out` is the archive's path.
func pythonTar(_ script: String, in directory: TemporaryDirectory) throws -> [UInt8] {
    let out = directory.path("python.tar")
    try runChecked(["python3", "-c", "import tarfile, io, sys\nout = sys.argv[1]\n" + script, out])
    return try readBytes(out)
}

let longName = "dir/" + String(repeating: "d", count: 60) + "/" + String(repeating: "f", count: 90) + ".txt"

/// A directory holding `longName` with `contents`; returns the directory's path.
func treeWithLongName(_ contents: String, in temp: TemporaryDirectory) throws -> String {
    let root = temp.path("root")
    let file = root + "/" + longName
    try FileManager.default.createDirectory(
        atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(contents.utf8).write(to: URL(fileURLWithPath: file))
    return root
}

@Suite struct TarParserTests {
    @Test func gnuTarLongNamesAndLinksAreFoldedIntoTheirEntries() throws {
        let temp = try TemporaryDirectory()
        let root = try treeWithLongName("long\n", in: temp)
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: longName)
        try FileManager.default.linkItem(atPath: root + "/" + longName, toPath: root + "/hard")
        try runChecked(["tar", "--format=gnu", "-C", root, "-cf", temp.path("gnu.tar"), "."])

        let parsed = try parse(readBytes(temp.path("gnu.tar")))
        // Whichever of the two names GNU tar meets first carries the data; the other links to it.
        let pair = [try #require(parsed.entry("./" + longName)), try #require(parsed.entry("./hard"))]
        let regular = try #require(pair.first { $0.entry.type == .regular })
        let hard = try #require(pair.first { $0.entry.type == .hardLink })
        #expect(regular.data == Array("long\n".utf8))
        #expect(hard.entry.linkPath == regular.entry.path)
        #expect(hard.data.isEmpty)
        let link = try #require(parsed.entry("./link"))
        #expect(link.entry.type == .symbolicLink)
        #expect(link.entry.linkPath == longName)
        #expect(parsed.ended == parsed.entries.count)
    }

    @Test func ustarPrefixIsJoinedToTheName() throws {
        let temp = try TemporaryDirectory()
        let root = try treeWithLongName("x", in: temp)
        try runChecked(["tar", "--format=ustar", "-C", root, "-cf", temp.path("ustar.tar"), longName])
        let parsed = try parse(readBytes(temp.path("ustar.tar")))
        #expect(parsed.entry(longName)?.data == Array("x".utf8))
    }

    @Test func paxRecordsSetPathXattrsAndTimesWhileGlobalHeadersAreIgnored() throws {
        let temp = try TemporaryDirectory()
        let bytes = try pythonTar(
            """
            with tarfile.open(out, "w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "global"}) as t:
                data = b"pax data"
                info = tarfile.TarInfo("\(longName)")
                info.size = len(data)
                info.mtime = 1700000000.25
                info.uid = 3000000
                info.pax_headers = {"SCHILY.xattr.user.kni": "value", "SCHILY.xattr.security.capability": "\\x01\\x02"}
                t.addfile(info, io.BytesIO(data))
                info = tarfile.TarInfo("ünïcødé.txt")
                t.addfile(info, io.BytesIO(b""))
            """, in: temp)
        let parsed = try parse(bytes)
        #expect(parsed.entries.count == 2)
        let entry = try #require(parsed.entry(longName))
        #expect(entry.data == Array("pax data".utf8))
        #expect(entry.entry.modificationTime == TarTime(seconds: 1_700_000_000, nanoseconds: 250_000_000))
        #expect(entry.entry.uid == 3_000_000)
        #expect(entry.entry.xattrs.contains(TarXattr(name: "user.kni", value: Array("value".utf8))))
        #expect(entry.entry.xattrs.contains { $0.name == "security.capability" })
        #expect(parsed.entry("ünïcødé.txt") != nil)
    }

    @Test func gnuBase256NumbersAreDecoded() throws {
        let temp = try TemporaryDirectory()
        let bytes = try pythonTar(
            """
            with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as t:
                info = tarfile.TarInfo("big-ids")
                info.uid = 3000000
                info.gid = 4000000
                t.addfile(info, io.BytesIO(b""))
            """, in: temp)
        let entry = try #require(try parse(bytes).entry("big-ids"))
        #expect(entry.entry.uid == 3_000_000)
        #expect(entry.entry.gid == 4_000_000)
    }

    @Test func chunkSizeDoesNotChangeTheResult() throws {
        let temp = try TemporaryDirectory()
        let bytes = try pythonTar(
            """
            import random
            r = random.Random(7)
            with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
                for i in range(20):
                    data = bytes(r.getrandbits(8) for _ in range(r.randrange(0, 3000)))
                    info = tarfile.TarInfo("d/" + "n" * r.randrange(1, 200) + str(i))
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
            """, in: temp)
        let whole = try parse(bytes)
        #expect(whole.entries.count == 20)
        for chunk in [1, 7, 511, 512, 513, 4096] {
            let pieces = try parse(bytes, chunk: chunk)
            #expect(pieces.entries.map(\.entry.name) == whole.entries.map(\.entry.name))
            #expect(pieces.entries.map(\.data) == whole.entries.map(\.data))
        }
    }

    @Test func gnuSparseFilesAreSkippedExactly() throws {
        let temp = try TemporaryDirectory()
        let root = temp.path("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try runChecked(["truncate", "-s", "64M", root + "/sparse"])
        try runChecked(["sh", "-c", "printf data | dd of=\(root)/sparse bs=1 seek=1000000 conv=notrunc 2>/dev/null"])
        try Data("after".utf8).write(to: URL(fileURLWithPath: root + "/after"))
        for format in ["gnu", "pax"] {
            let archive = temp.path("\(format).tar")
            try runChecked(["tar", "--format=\(format)", "--sparse", "-C", root, "-cf", archive, "sparse", "after"])
            let parsed = try parse(readBytes(archive))
            let sparse = try #require(parsed.entries.first { $0.entry.path.hasSuffix("sparse") })
            #expect(sparse.entry.sparse != nil, "format \(format)")
            #expect(sparse.entry.size < 64 << 20)
            #expect(parsed.entry("after")?.data == Array("after".utf8), "format \(format)")
        }
    }

    @Test func truncatedStreamNamesTheEntry() throws {
        let temp = try TemporaryDirectory()
        let bytes = try pythonTar(
            """
            with tarfile.open(out, "w") as t:
                info = tarfile.TarInfo("big.bin")
                info.size = 10000
                t.addfile(info, io.BytesIO(bytes(10000)))
            """, in: temp)
        #expect(throws: TarError.truncated(entry: "big.bin", offset: 3000, missingBytes: 10000 - 2488 + 240)) {
            _ = try parse(Array(bytes.prefix(3000)))
        }
    }

    @Test func corruptHeaderIsRejected() throws {
        var block = [UInt8](repeating: 0, count: 1024)
        for index in 0..<512 { block[index] = UInt8(truncatingIfNeeded: index * 31 + 7) }
        #expect {
            _ = try parse(block)
        } throws: { error in
            guard case TarError.badHeader(let offset, _) = error else { return false }
            return offset == 0
        }
    }

    @Test func emptyArchivesAndMissingEndMarkersAreAccepted() throws {
        #expect(try parse([UInt8](repeating: 0, count: 1024)).entries.isEmpty)
        #expect(try parse([]).entries.isEmpty)
        let temp = try TemporaryDirectory()
        let bytes = try pythonTar(
            """
            with tarfile.open(out, "w") as t:
                t.addfile(tarfile.TarInfo("a"), io.BytesIO(b""))
            """, in: temp)
        // Cut right after the entry: Go's archive/tar (and so containerd) accepts this.
        #expect(try parse(Array(bytes.prefix(512))).entries.count == 1)
    }

    @Test func oversizedExtendedHeadersAreRefused() throws {
        let temp = try TemporaryDirectory()
        let bytes = try pythonTar(
            """
            with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
                info = tarfile.TarInfo("x")
                info.pax_headers = {"comment": "c" * (2 << 20)}
                t.addfile(info, io.BytesIO(b""))
            """, in: temp)
        #expect {
            _ = try parse(bytes)
        } throws: { error in
            guard case TarError.metadataTooLarge = error else { return false }
            return true
        }
    }
}

@Suite struct TarPathTests {
    func clean(_ path: String) -> String? {
        TarPath.cleaned(Array(path.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func pathsAreCleanedLikeContainerd() {
        #expect(clean("./a//b/./c/") == "a/b/c")
        #expect(clean("/etc/passwd") == "etc/passwd")
        #expect(clean("a/../b") == "b")
        #expect(clean("./") == "")
    }

    @Test func pathsClimbingAboveTheRootAreRefused() {
        #expect(clean("../x") == nil)
        #expect(clean("a/../../x") == nil)
        #expect(clean("/..") == nil)
        #expect(clean("a/b/../../..") == nil)
    }
}
