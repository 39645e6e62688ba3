import Foundation
import LayerApplier
import Testing
import TestSupport

/// A sandbox around the target directory: `box/root` receives layers, the rest of `box` holds
/// sentinels that must never change, whatever a layer says.
final class Sandbox {
    let temp: TemporaryDirectory
    let box: String
    let root: String
    /// An absolute path outside the root that layers aim at.
    let outside: String

    init() throws {
        temp = try TemporaryDirectory()
        box = temp.path("box")
        root = box + "/root"
        outside = box + "/outside"
        for directory in [root, outside + "/dir"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try Data("keep".utf8).write(to: URL(fileURLWithPath: box + "/sentinel"))
        try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/secret"))
    }

    /// Everything in the box except the root: its names, the sentinel, the outside tree and
    /// the secret's link count.
    func outsideState() throws -> [String] {
        var info = stat()
        stat(outside + "/secret", &info)
        let names = try FileManager.default.contentsOfDirectory(atPath: box).sorted()
        let sentinel = try String(contentsOfFile: box + "/sentinel", encoding: .utf8)
        return names + [sentinel, "secret nlink=\(info.st_nlink)"] + (try treeManifest(outside))
    }

    /// Applies each layer in turn, returning the first error, and checks nothing outside changed.
    func apply(_ layers: [LayerSpec], useOpenat2: Bool, mode: ApplyMode = .plain) throws -> (any Error)? {
        let before = try outsideState()
        var failure: (any Error)?
        for (index, spec) in layers.enumerated() {
            do {
                try applyLayer(try makeLayer(spec, in: temp, name: "layer\(index)"), to: root, mode: mode, useOpenat2: useOpenat2)
            } catch {
                failure = error
                break
            }
        }
        let after = try outsideState()
        #expect(before == after, "something outside the root changed")
        return failure
    }
}

@Suite(rootOnly) struct HostileLayerTests {
    @Test(arguments: [true, false])
    func parentTraversalIsRefused(useOpenat2: Bool) throws {
        for name in ["../escape", "a/../../escape", "../../../../../../escape"] {
            let sandbox = try Sandbox()
            let error = try sandbox.apply([[["name": name, "data": "x"]]], useOpenat2: useOpenat2)
            let applyError = try #require(error as? ApplyError, "\(name)")
            #expect(applyError.path == name)
            #expect(applyError.reason.contains("climbs above the layer's root"))
            #expect(!exists(sandbox.box + "/escape"))
        }
    }

    @Test(arguments: [true, false])
    func absolutePathsLandInsideTheRoot(useOpenat2: Bool) throws {
        let sandbox = try Sandbox()
        #expect(try sandbox.apply([[["name": sandbox.outside + "/abs", "data": "x"]]], useOpenat2: useOpenat2) == nil)
        #expect(exists(sandbox.root + sandbox.outside + "/abs"))
        #expect(!exists(sandbox.outside + "/abs"))
    }

    @Test(arguments: [true, false])
    func writesThroughSymlinksStayInside(useOpenat2: Bool) throws {
        let cases: [(LayerSpec, String)] = [
            ([["name": "evil", "type": "symlink", "link": "/"], ["name": "evil/etc/pwned", "data": "x"]], "etc/pwned"),
            ([["name": "up", "type": "symlink", "link": "../.."], ["name": "up/pwned", "data": "x"]], "pwned"),
            ([["name": "d", "type": "dir"], ["name": "d/up", "type": "symlink", "link": "../../../outside"],
              ["name": "d/up/pwned", "data": "x"]], "outside/pwned"),
        ]
        for (spec, landed) in cases {
            let sandbox = try Sandbox()
            #expect(try sandbox.apply([spec], useOpenat2: useOpenat2) == nil)
            #expect(exists(sandbox.root + "/" + landed), "\(landed)")
            #expect(!exists(sandbox.outside + "/pwned"))
        }
        let sandbox = try Sandbox()
        let absolute: LayerSpec = [["name": "evil", "type": "symlink", "link": sandbox.outside],
                                   ["name": "evil/pwned", "data": "x"]]
        #expect(try sandbox.apply([absolute], useOpenat2: useOpenat2) == nil)
        #expect(exists(sandbox.root + sandbox.outside + "/pwned"))
    }

    @Test(arguments: [true, false])
    func symlinksFromEarlierLayersCannotBeUsedToEscape(useOpenat2: Bool) throws {
        let sandbox = try Sandbox()
        let layers: [LayerSpec] = [
            [["name": "evil", "type": "symlink", "link": sandbox.outside]],
            [["name": "evil/pwned", "data": "x"], ["name": "evil/secret", "data": "overwritten"]],
        ]
        #expect(try sandbox.apply(layers, useOpenat2: useOpenat2) == nil)
        #expect(exists(sandbox.root + sandbox.outside + "/pwned"))
        #expect(try String(contentsOfFile: sandbox.outside + "/secret", encoding: .utf8) == "secret")
    }

    @Test(arguments: [true, false])
    func hardlinksCannotReachOutside(useOpenat2: Bool) throws {
        let climbing = try Sandbox()
        let error = try climbing.apply([[["name": "h", "type": "hardlink", "link": "../outside/secret"]]], useOpenat2: useOpenat2)
        #expect((error as? ApplyError)?.reason.contains("climbs above") == true)

        let throughSymlink = try Sandbox()
        let spec: LayerSpec = [["name": "s", "type": "symlink", "link": throughSymlink.outside],
                               ["name": "h", "type": "hardlink", "link": "s/secret"]]
        #expect(try throughSymlink.apply([spec], useOpenat2: useOpenat2) != nil)
        #expect(!exists(throughSymlink.root + "/h"))
    }

    @Test(arguments: [true, false])
    func whiteoutsCannotRemoveOutside(useOpenat2: Bool) throws {
        let dotdot = try Sandbox()
        #expect(try dotdot.apply([[["name": "a/.wh...", "data": ""]]], useOpenat2: useOpenat2) is ApplyError)
        let climbing = try Sandbox()
        #expect(try climbing.apply([[["name": "../.wh.sentinel", "data": ""]]], useOpenat2: useOpenat2) is ApplyError)
        for mode in [ApplyMode.plain, .overlayUpper(lowers: [])] {
            let viaSymlink = try Sandbox()
            let spec: LayerSpec = [["name": "evil", "type": "symlink", "link": viaSymlink.box],
                                   ["name": "evil/.wh.sentinel", "data": ""],
                                   ["name": "evil/outside/.wh..wh..opq", "data": ""]]
            _ = try viaSymlink.apply([spec], useOpenat2: useOpenat2, mode: mode)
            #expect(exists(viaSymlink.box + "/sentinel"))
        }
    }

    @Test(arguments: [true, false])
    func symlinkLoopsFailCleanly(useOpenat2: Bool) throws {
        let sandbox = try Sandbox()
        let spec: LayerSpec = [["name": "a", "type": "symlink", "link": "b"], ["name": "b", "type": "symlink", "link": "a"],
                               ["name": "a/x", "data": "x"]]
        let error = try #require(try sandbox.apply([spec], useOpenat2: useOpenat2))
        #expect("\(error)".contains("Too many levels of symbolic links"))
    }

    @Test(arguments: [true, false])
    func veryDeepPathsAreApplied(useOpenat2: Bool) throws {
        let sandbox = try Sandbox()
        let deep = Array(repeating: "d", count: 2500).joined(separator: "/") + "/file"
        #expect(try sandbox.apply([[["name": deep, "data": "deep"]]], useOpenat2: useOpenat2) == nil)
        let found = try runChecked(["find", sandbox.root, "-name", "file"]).stdoutText
        #expect(found.split(separator: "/").count > 2500)
    }

    @Test(arguments: [true, false])
    func duplicatesOfEveryTypeReplaceEachOther(useOpenat2: Bool) throws {
        let sandbox = try Sandbox()
        let types: [[String: Any]] = [
            ["name": "x", "data": "file"], ["name": "x", "type": "dir"], ["name": "x/inner", "data": "i"],
            ["name": "x", "type": "symlink", "link": sandbox.outside], ["name": "x", "type": "fifo"],
            ["name": "x", "type": "char", "major": 1, "minor": 3], ["name": "y", "data": "target"],
            ["name": "x", "type": "hardlink", "link": "y"], ["name": "x", "data": "last"],
        ]
        #expect(try sandbox.apply([types], useOpenat2: useOpenat2) == nil)
        #expect(try String(contentsOfFile: sandbox.root + "/x", encoding: .utf8) == "last")
        #expect(try String(contentsOfFile: sandbox.root + "/y", encoding: .utf8) == "target")
        #expect(try treeManifest(sandbox.outside).count == 2)
    }
}
