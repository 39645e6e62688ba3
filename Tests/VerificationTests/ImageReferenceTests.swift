import Core
import OCI
import Testing

@Suite struct ImageReferenceTests {
    @Test(arguments: [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1", "docker.io/library/busybox:1"),
        ("kni/sample:v1", "docker.io/kni/sample:v1"),
        ("docker.io/kni/d25:v1", "docker.io/kni/d25:v1"),
        ("index.docker.io/library/alpine", "docker.io/library/alpine:latest"),
        ("localhost:5000/app:dev", "localhost:5000/app:dev"),
        ("localhost/app", "localhost/app:latest"),
        ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
        ("quay.io/a/b-c/d__e:1.2-rc_3", "quay.io/a/b-c/d__e:1.2-rc_3"),
        ("app@sha256:" + String(repeating: "a", count: 64), "docker.io/library/app@sha256:" + String(repeating: "a", count: 64)),
    ])
    func namesAreNormalizedAsCRILooksThemUp(name: String, normalized: String) throws {
        #expect(try ImageReference(normalizing: name).description == normalized)
    }

    @Test(arguments: ["", "Busybox", "busybox:", "a:b:c", "app@sha256:abc", String(repeating: "a", count: 64), "a//b", "-a"])
    func invalidNamesAreRefused(name: String) {
        #expect(throws: ImageReference.ParseError.self) { try ImageReference(normalizing: name) }
    }

    /// Values containerd itself gave the snapshots of real/oci-gzip.tar.
    @Test func chainIDsMatchContainerds() throws {
        let diffIDs = try [
            "sha256:4147a7a0cda16684ea3f6aeddf75f6909f6e04c27f2d8abf4a21e0560d70fe27",
            "sha256:47fd5a0c3ef8b0dc96fa798d5c473dd64963efcff959401e5fe7919efa2305c1",
            "sha256:1d619f49d3ea83b5be169a2ac233207fafb17d9c73f2dd194f7e9328abfa5fcd",
        ].map { try #require(Digest(parsing: $0)) }
        #expect(chainIDs(diffIDs).map(\.description) == [
            "sha256:4147a7a0cda16684ea3f6aeddf75f6909f6e04c27f2d8abf4a21e0560d70fe27",
            "sha256:3c821061d8a2eb638646d5c69fc03ce156479f30b0971d58d4077f9444080bbc",
            "sha256:7494cb196d42850a81721622e315fa2aa2d9729b32abc4386f989c8a25d40fa8",
        ])
    }
}
