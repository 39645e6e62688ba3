import Import
import Testing

@Suite struct NodeSnapshotterTests {
    @Test func version2ConfigNamesTheCRISnapshotter() {
        let config = """
            version = 2
            [plugins]
              [plugins."io.containerd.grpc.v1.cri"]
                sandbox_image = "registry.k8s.io/pause:3.9"
                [plugins."io.containerd.grpc.v1.cri".containerd]
                  # snapshotter = "native"
                  snapshotter = "fuse-overlayfs"
                  default_runtime_name = "runc"
            """
        #expect(NodeSnapshotter.fromConfig(config) == "fuse-overlayfs")
    }

    @Test func version3ConfigNamesTheCRIImagesSnapshotter() {
        let config = """
            version = 3
            [plugins.'io.containerd.cri.v1.images']
              snapshotter = 'native'
            """
        #expect(NodeSnapshotter.fromConfig(config) == "native")
    }

    @Test func otherTablesAndMissingConfigsFallBack() {
        #expect(NodeSnapshotter.fromConfig("[plugins.\"io.containerd.snapshotter.v1.zfs\"]\nsnapshotter = \"zfs\"\n") == nil)
        #expect(NodeSnapshotter.detect(configPath: "/nonexistent/config.toml") == "overlayfs")
    }
}
