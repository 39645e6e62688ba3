import ContainerdAPI
import Foundation
import Import
import Testing
import TestSupport

/// Which snapshotter CRI uses, from CRI's answer and, when containerd runs without CRI, from
/// containerd's config file: pure tests, no containerd.
@Suite struct NodeSnapshotterTests {
    // MARK: containerd's config, every version

    /// A node config the way kind writes it (images/base/files/etc/containerd/config.toml: version
    /// 2, a fuse-overlayfs proxy plugin, the CRI snapshotter spelled out so its entrypoint can
    /// rewrite it with sed), with `snapshotter` as given.
    static func kindConfig(snapshotter: String) -> String {
        """
        # version 2, as kind writes it; containerd 2.x migrates it when it loads it
        version = 2

        [proxy_plugins]
        [proxy_plugins."fuse-overlayfs"]
          type = "snapshot"
          address = "/run/containerd-fuse-overlayfs.sock"

        [plugins."io.containerd.grpc.v1.cri".containerd]
          discard_unpacked_layers = true
          snapshotter = "\(snapshotter)"
          default_runtime_name = "runc"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"
          base_runtime_spec = "/etc/containerd/cri-base.json"
          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            SystemdCgroup = true
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.test-handler]
          runtime_type = "io.containerd.runc.v2"

        [plugins."io.containerd.grpc.v1.cri"]
          sandbox_image = "registry.k8s.io/pause:3.10"
          tolerate_missing_hugepages_controller = true
          restrict_oom_score_adj = false
        [plugins."io.containerd.grpc.v1.cri".registry.mirrors."k8s.gcr.io"]
          endpoint = ["https://registry.k8s.io", "https://k8s.gcr.io",]

        """
    }

    func read(_ config: String) throws -> (String, Int) {
        let answer = try NodeSnapshotter.fromConfig(config)
        return (answer.name, answer.version)
    }

    @Test func kindsVersion2ConfigAndItsEntrypointRewrites() throws {
        let config = Self.kindConfig(snapshotter: "overlayfs")
        #expect(try NodeSnapshotter.fromConfig(config).name == "overlayfs")
        #expect(try NodeSnapshotter.fromConfig(config).version == 2)
        // kind's entrypoint: sed 's/snapshotter = "overlayfs"/snapshotter = "$snapshotter"/' (ZFS:
        // native; fuseblk or rootless: fuse-overlayfs; or KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER).
        for rewritten in ["native", "fuse-overlayfs"] {
            let edited = config.replacingOccurrences(
                of: #"snapshotter = "overlayfs""#, with: #"snapshotter = "\#(rewritten)""#)
            #expect(try NodeSnapshotter.fromConfig(edited).name == rewritten)
        }
    }

    /// What `containerd config default` prints on 1.6 (version 2), trimmed to the tables
    /// around the key, with a per-runtime snapshotter that is not the CRI default.
    @Test func containerd16DefaultConfig() throws {
        let config = """
            disabled_plugins = []
            imports = []
            oom_score = 0
            plugin_dir = ""
            required_plugins = []
            root = "/var/lib/containerd"
            state = "/run/containerd"
            temp = ""
            version = 2

            [cgroup]
              path = ""

            [grpc]
              address = "/run/containerd/containerd.sock"
              max_recv_message_size = 16777216
              tcp_tls_ca = ""

            [plugins]

              [plugins."io.containerd.gc.v1.scheduler"]
                deletion_threshold = 0
                pause_threshold = 0.02
                schedule_delay = "0s"
                startup_delay = "100ms"

              [plugins."io.containerd.grpc.v1.cri"]
                device_ownership_from_security_context = false
                sandbox_image = "registry.k8s.io/pause:3.6"

                [plugins."io.containerd.grpc.v1.cri".containerd]
                  default_runtime_name = "runc"
                  discard_unpacked_layers = false
                  ignore_rdt_not_enabled_errors = false
                  no_pivot = false
                  snapshotter = "native"

                  [plugins."io.containerd.grpc.v1.cri".containerd.default_runtime]
                    base_runtime_spec = ""
                    privileged_without_host_devices = false
                    runtime_engine = ""
                    runtime_root = ""
                    runtime_type = ""

                    [plugins."io.containerd.grpc.v1.cri".containerd.default_runtime.options]

                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]

                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                      runtime_type = "io.containerd.runc.v2"
                      snapshotter = "overlayfs"

              [plugins."io.containerd.snapshotter.v1.overlayfs"]
                root_path = ""
                upperdir_label = false

            [timeouts]
              "io.containerd.timeout.shim.cleanup" = "5s"
              "io.containerd.timeout.task.state" = "2s"

            [ttrpc]
              address = ""
              gid = 0
            """
        #expect(try read(config) == ("native", 2))
    }

    /// What `containerd config dump` prints on 2.0–2.2 (version 3, single-quoted keys).
    @Test func version3Config() throws {
        let config = """
            version = 3
            root = '/var/lib/containerd'
            state = '/run/containerd'
            disabled_plugins = []
            imports = ['/etc/containerd/config.toml']

            [grpc]
              address = '/run/containerd/containerd.sock'

            [plugins]
              [plugins.'io.containerd.cri.v1.images']
                snapshotter = 'native'
                disable_snapshot_annotations = true
                discard_unpacked_layers = true
                max_concurrent_downloads = 3
                image_pull_progress_timeout = '5m0s'

                [plugins.'io.containerd.cri.v1.images'.pinned_images]
                  sandbox = 'registry.k8s.io/pause:3.10'

              [plugins.'io.containerd.cri.v1.runtime']
                enable_selinux = false
                cdi_spec_dirs = ['/etc/cdi', '/var/run/cdi']

                [plugins.'io.containerd.cri.v1.runtime'.containerd]
                  default_runtime_name = 'runc'

                  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes]
                    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
                      runtime_type = 'io.containerd.runc.v2'
                      snapshotter = 'overlayfs'
            """
        #expect(try read(config) == ("native", 3))
        #expect(try NodeSnapshotter.fromConfig(config).discardUnpackedLayers)
    }

    /// CRI's `discard_unpacked_layers`, read where each version keeps it (beside the snapshotter).
    @Test func discardUnpackedLayersInEveryVersion() throws {
        #expect(try NodeSnapshotter.fromConfig(Self.kindConfig(snapshotter: "overlayfs")).discardUnpackedLayers)
        let kindWithout = Self.kindConfig(snapshotter: "overlayfs").replacingOccurrences(
            of: "  discard_unpacked_layers = true\n", with: "")
        #expect(try !NodeSnapshotter.fromConfig(kindWithout).discardUnpackedLayers)
        #expect(try NodeSnapshotter.fromConfig("[plugins.cri.containerd]\ndiscard_unpacked_layers = true\n").discardUnpackedLayers)
        #expect(
            try NodeSnapshotter.fromConfig(
                "version = 3\n[plugins.'io.containerd.cri.v1.images']\ndiscard_unpacked_layers = true\n"
            ).discardUnpackedLayers)
        #expect(
            try !NodeSnapshotter.fromConfig(
                "version = 3\n[plugins.'io.containerd.cri.v1.runtime']\ndiscard_unpacked_layers = true\n"
            ).discardUnpackedLayers)
        #expect(throws: NodeSnapshotter.Failure.self) {
            try NodeSnapshotter.fromConfig("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\ndiscard_unpacked_layers = \"yes\"\n")
        }
        #expect(try !NodeSnapshotter.fromConfig("version = 2\n").discardUnpackedLayers)
    }

    /// What `containerd config dump` prints on 2.3 (version 4: the CRI images table is
    /// unchanged; servers moved into plugins).
    @Test func version4Config() throws {
        let config = """
            version = 4
            root = '/var/lib/containerd'
            state = '/run/containerd'
            temp = ''
            disabled_plugins = []
            required_plugins = []
            oom_score = 0
            imports = ['/etc/containerd/conf.d/*.toml']

            [debug]
              level = ''
              format = ''

            [plugins]
              [plugins.'io.containerd.cri.v1.images']
                snapshotter = 'fuse-overlayfs'
                disable_snapshot_annotations = true
                discard_unpacked_layers = false
                max_concurrent_downloads = 3
                concurrent_layer_fetch_buffer = 0
                stats_collect_period = 10

                [plugins.'io.containerd.cri.v1.images'.pinned_images]
                  sandbox = 'registry.k8s.io/pause:3.10.2'

                [plugins.'io.containerd.cri.v1.images'.registry]
                  config_path = ''

              [plugins.'io.containerd.server.v1.grpc']
                address = '/run/containerd/containerd.sock'
                max_recv_message_size = 16777216

              [plugins.'io.containerd.snapshotter.v1.overlayfs']
                root_path = ''
                mount_options = []
            """
        #expect(try read(config) == ("fuse-overlayfs", 4))
    }

    @Test func version1ConfigAndNoVersion() throws {
        let config = """
            root = "/var/lib/containerd"
            [plugins.cri.containerd]
              snapshotter = "native"
            """
        #expect(try read(config) == ("native", 1))
        #expect(try read("version = 1\n[plugins.linux]\nshim = \"containerd-shim\"\n") == ("overlayfs", 1))
    }

    @Test func aConfigThatSetsNoCRISnapshotterMeansContainerdsDefault() throws {
        #expect(try read("") == ("overlayfs", 1))
        #expect(try read("version = 2\nroot = \"/data\"\n") == ("overlayfs", 2))
        #expect(try NodeSnapshotter.fromConfig("version = 3\n[plugins.'io.containerd.cri.v1.images']\nsnapshotter = ''\n").name
            == "overlayfs")
        // A snapshotter of another table, or of a runtime, is not the CRI default.
        let others = """
            version = 2
            [plugins."io.containerd.snapshotter.v1.zfs"]
              snapshotter = "zfs"
            [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
              snapshotter = "native"
            [plugins."io.containerd.grpc.v1.cri".containerd]
              # snapshotter = "native"
              default_runtime_name = "runc"
            """
        #expect(try NodeSnapshotter.fromConfig(others).name == "overlayfs")
    }

    /// Each version reads its own table: a version 3 file's leftover version 2 table is ignored
    /// (2.0's migration only reads version 2 files), a version 2 file's version 3 table is read
    /// (2.x keeps it under what it migrates) unless the version 2 table sets the name.
    @Test func eachVersionReadsItsTable() throws {
        let v2Table = "[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nsnapshotter = \"native\"\n"
        let v3Table = "[plugins.\"io.containerd.cri.v1.images\"]\nsnapshotter = \"fuse-overlayfs\"\n"
        #expect(try NodeSnapshotter.fromConfig("version = 3\n" + v2Table).name == "overlayfs")
        #expect(try NodeSnapshotter.fromConfig("version = 3\n" + v2Table + v3Table).name == "fuse-overlayfs")
        #expect(try NodeSnapshotter.fromConfig("version = 2\n" + v3Table).name == "fuse-overlayfs")
        #expect(try NodeSnapshotter.fromConfig("version = 2\n" + v3Table + v2Table).name == "native")
    }

    /// TOML's other spellings of the same key: dotted keys, inline tables, escapes, comments.
    @Test func tomlSpellingsOfTheSameKey() throws {
        let spellings = [
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\ncontainerd.snapshotter = \"native\"\n",
            "version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\".containerd = { snapshotter = \"native\", discard_unpacked_layers = true }\n",
            "version=3\nplugins.'io.containerd.cri.v1.images'.snapshotter='native'#comment\n",
            "version = 3\n[ plugins . \"io.containerd.cri.v1.images\" ]  # a comment\n  snapshotter = \"n\\u0061tive\"\n",
            "version = 0x3\r\n[plugins.\"io.containerd.cri.v1.images\"]\r\nsnapshotter = \"\"\"\nnative\"\"\"\r\n",
            """
            version = 3
            disabled_plugins = [
              "io.containerd.snapshotter.v1.zfs",  # no zfs here
              'io.containerd.snapshotter.v1.btrfs',
              [1, 2.5, true, 1979-05-27 07:32:00Z], { a = ["]"] },
            ]
            [[plugins."io.containerd.transfer.v1.local".unpack_config]]
              platform = "linux/amd64"
              snapshotter = "overlayfs"
            [plugins."io.containerd.cri.v1.images"]
              snapshotter = 'native' # not "overlayfs"
            """,
        ]
        for config in spellings {
            #expect(try NodeSnapshotter.fromConfig(config).name == "native", "\(config)")
        }
        #expect(try NodeSnapshotter.fromConfig("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nsnapshotter = \"a#b\"\n").name
            == "a#b")
    }

    @Test(arguments: [
        ("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd\nsnapshotter = \"native\"\n", "line 2"),
        ("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nsnapshotter = native\n", "line 3"),
        ("version = 3\n[plugins.'io.containerd.cri.v1.images']\nsnapshotter = \"native\n", "line 3"),
        ("version = 3\nimports = [\"a\"\n", "not closed"),
        ("version = 3\n[plugins.'io.containerd.cri.v1.images'] snapshotter = 'native'\n", "line 2"),
        ("version = 5\n", "version 5 is not one this tool reads"),
        ("version = \"2\"\n", "version is not an integer"),
        ("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nsnapshotter = 1\n", "snapshotter is not a string"),
    ])
    func configsItCannotReadAreErrorsThatSayWhy(config: String, says: String) {
        #expect {
            try NodeSnapshotter.fromConfig(config)
        } throws: { error in
            "\(error)".contains(says)
        }
    }

    @Test func configFiles() throws {
        let temp = try TemporaryDirectory()
        // No file: containerd runs with its defaults.
        let missing = try NodeSnapshotter.readConfig(path: temp.path("none.toml"))
        #expect(missing.name == "overlayfs" && missing.source.contains("containerd's default"))
        let file = temp.path("config.toml")
        try Self.kindConfig(snapshotter: "native").write(toFile: file, atomically: true, encoding: .utf8)
        let read = try NodeSnapshotter.readConfig(path: file)
        #expect(read.name == "native" && read.source == "containerd's config \(file) (version 2)")
        // A directory is not a config: an error, not the default.
        #expect {
            try NodeSnapshotter.readConfig(path: temp.path(""))
        } throws: { error in
            "\(error)".contains("cannot read containerd's config")
        }
        try "version = 2\n[plugins\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect {
            try NodeSnapshotter.readConfig(path: file)
        } throws: { error in
            "\(error)".contains("containerd's config \(file): not valid TOML at line 2")
        }
    }

    // MARK: CRI's image filesystem

    static let plugins = [
        SnapshotterPlugin(id: "native", root: "/var/lib/containerd/io.containerd.snapshotter.v1.native", initError: nil),
        SnapshotterPlugin(id: "overlayfs", root: "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs", initError: nil),
        SnapshotterPlugin(id: "fuse-overlayfs", root: nil, initError: nil),
        SnapshotterPlugin(id: "zfs", root: "/var/lib/containerd/io.containerd.snapshotter.v1.zfs", initError: "no zfs pool"),
    ]

    @Test func criImageFilesystemIsTheRootOfALoadedSnapshotter() throws {
        let root = "/var/lib/containerd/"
        // 1.6 and 2.x, default roots.
        #expect(try NodeSnapshotter.fromCRI(mountpoint: root + "io.containerd.snapshotter.v1.overlayfs", plugins: Self.plugins) == "overlayfs")
        #expect(try NodeSnapshotter.fromCRI(mountpoint: root + "io.containerd.snapshotter.v1.native/", plugins: Self.plugins) == "native")
        // A proxy plugin exports no root: 2.x builds the path from its name, as 1.6 always does.
        #expect(try NodeSnapshotter.fromCRI(mountpoint: root + "io.containerd.snapshotter.v1.fuse-overlayfs", plugins: Self.plugins)
            == "fuse-overlayfs")
        // 2.x: a snapshotter configured with its own root_path exports it, and CRI reports it.
        var moved = Self.plugins
        moved[1].root = "/data/overlay"
        #expect(try NodeSnapshotter.fromCRI(mountpoint: "/data/overlay", plugins: moved) == "overlayfs")
        // 1.6: CRI reports the default path whatever root_path says.
        #expect(try NodeSnapshotter.fromCRI(mountpoint: root + "io.containerd.snapshotter.v1.overlayfs", plugins: moved) == "overlayfs")
    }

    @Test func criImageFilesystemsItCannotMatchAreErrorsThatSayWhatWasFound() {
        let cases = [
            ("/srv/images", "CRI's image filesystem /srv/images is the root of no snapshotter containerd has loaded (loaded: native at /var/lib/containerd/io.containerd.snapshotter.v1.native, overlayfs at /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs, fuse-overlayfs)"),
            ("/var/lib/containerd/io.containerd.snapshotter.v1.btrfs", "names snapshotter btrfs, which containerd has not loaded"),
            ("/var/lib/containerd/io.containerd.snapshotter.v1.zfs", "names snapshotter zfs, which failed to load in containerd: no zfs pool"),
        ]
        for (mountpoint, says) in cases {
            #expect {
                try NodeSnapshotter.fromCRI(mountpoint: mountpoint, plugins: Self.plugins)
            } throws: { error in
                "\(error)".contains(says)
            }
        }
    }
}

/// The config the tests' containerd installation (`KNI_CONTAINERD_DIR`, else Debian's) prints as
/// its default (version 2 on 1.x, 3 on 2.0–2.2, 4 on 2.3): read whole, it names containerd's default.
@Suite struct InstalledContainerdConfigTests {
    static let containerd = PrivateContainerd.installation + "/containerd"

    @Test(.enabled(if: (try? run([containerd, "--version"]).status) == 0, "needs containerd"))
    func containerdsOwnDefaultConfigReads() throws {
        let printed = try runChecked([Self.containerd, "config", "default"]).stdoutText
        let answer = try NodeSnapshotter.fromConfig(printed)
        #expect(answer.name == "overlayfs")
        #expect((2...4).contains(answer.version))
    }

    /// containerd 2.x migrates kind's version 2 file when it loads it: the migrated config (3 or
    /// 4) names the same snapshotter in its own table.
    @Test(.enabled(if: PrivateContainerd.majorVersion >= 2, "needs containerd 2.x (KNI_CONTAINERD_DIR)"))
    func containerd2MigratesKindsConfigToTheSameName() throws {
        let temp = try TemporaryDirectory()
        let kind = temp.path("config.toml")
        try NodeSnapshotterTests.kindConfig(snapshotter: "native").write(toFile: kind, atomically: true, encoding: .utf8)
        let migrated = try runChecked([Self.containerd, "--config", kind, "config", "migrate"]).stdoutText
        #expect(migrated.contains("io.containerd.cri.v1.images"))
        let answer = try NodeSnapshotter.fromConfig(migrated)
        #expect(answer.name == "native" && answer.version >= 3, "\(migrated)")
    }
}
