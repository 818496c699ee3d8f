"""Appwrite's own database client (PDO, pdo_mysql, in a php-cli process) against a real
MariaDB with the attributes Appwrite 1.9.6 sets on its pools (app/init/registers.php:293-300)."""

from __future__ import annotations

import uuid
from typing import Any

from helpers import CANARY_DB_PASSWORD
from php_clients import PhpClients
from services import MariaDB


def database(server: MariaDB) -> dict[str, Any]:
    """What Appwrite gets in `_APP_DB_*` (the password travels on the script's stdin)."""
    return {"host": "127.0.0.1", "port": server.port, "schema": server.schema,
            "user": server.user, "password": server.password}


def test_pdo_with_appwrite_attributes_on_mariadb(php_clients: PhpClients,
                                                 mariadb: MariaDB) -> None:
    """Not persistent, utf8mb4, emulated prepares (the server never sees a PREPARE, which is
    what lets a transaction-mode pooler sit in between), every value fetched as a string in
    an associative row, transactions, and errors thrown with the server's code."""
    table = f"php_{uuid.uuid4().hex[:10]}"
    process = php_clients.start("mariadb_pdo", db=database(mariadb), table=table)
    connected = process.expect("connected")
    assert connected["persistent"] is False
    assert connected["emulate_prepares"] is True
    assert connected["charset"] == "utf8mb4"
    assert "MariaDB" in connected["version"]
    rows = process.expect("rows")
    assert rows["rows"] == [{"_id": "1", "name": "ä'\"\\", "n": "1"},
                            {"_id": "2", "name": "b", "n": "2"}]
    assert rows["server_prepares"] == 0
    assert process.expect("rolled_back")["count"] == "2"
    bad = process.expect("bad_sql")
    assert bad["thrown"] is True and bad["code"] == 1146
    assert bad["message"].startswith("SQLSTATE[42S02]")
    assert process.finish() == 0
    assert CANARY_DB_PASSWORD not in repr(php_clients.drain(process)) + process.stderr
