"""The harness that runs Appwrite's own clients: failures surface with the script's words,
and the secrets a script is given never reach its argv or environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from php_clients import PhpClients


def test_a_script_error_fails_the_test_with_its_message(php_clients: PhpClients) -> None:
    """A refused connection (nothing listens on port 1) is reported, not waited for."""
    process = php_clients.start("redis_queue", host="127.0.0.1", port=1, queue="q", timeout=1)
    with pytest.raises(AssertionError, match=r"expected 'empty_pop'.*RedisException"):
        process.expect("empty_pop")
    assert process.finish() == 1
    assert process.stderr.startswith("RedisException: ")


def test_the_configuration_stays_off_argv_and_the_environment(php_clients: PhpClients) -> None:
    secret = "canary-config-Pw-6e0b2f"
    process = php_clients.start(
        "hold", name="probe", db=0, pool=0, queue=0, redis={"host": "127.0.0.1", "port": 1},
        database={"password": secret})
    process.expect("held")
    proc = Path(f"/proc/{process.proc.pid}")
    seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
    process.tell("release")
    assert process.finish() == 0
    assert secret.encode() not in seen
