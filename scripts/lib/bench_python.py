#!/usr/bin/python3
"""bench_python.py: a Python worker for scripts/lib/bench_alternate.py (its protocol: "ready",
then one line of seconds per batch size read on stdin).

Usage: bench_python.py mysqldb|queuepool|persistent [--tcp]

  mysqldb    each op: MySQLdb.connect(), cursor, "SELECT 1", fetchall, close -- an unmodified
             connect-per-request program (run it under the shim to pool it)
  queuepool  the same loop written with SQLAlchemy's QueuePool (default settings: pool_size 5,
             max_overflow 10, reset_on_return="rollback") around MySQLdb.connect(): each op
             borrows a connection, runs "SELECT 1" and returns it (run it without the shim)
  persistent one MySQLdb connection opened before the first op; each op runs "SELECT 1" on it:
             what a connect-per-request loop would cost if connecting and closing cost nothing
             (the ceiling of any pool for this loop; run it without the shim)
  --tcp      PSTEST_HOST:PSTEST_PORT instead of the unix socket PSTEST_SOCKET

Reads the PSTEST_* settings of the sandbox. On an error prints "error=..." and exits 1.
"""
import os
import sys
import time

import MySQLdb


def connect_args(tcp):
    """MySQLdb.connect() keyword arguments for the sandbox's app user."""
    env = os.environ
    args = {"user": env["PSTEST_USER"], "passwd": env["PSTEST_PASSWORD"], "db": env["PSTEST_DB"]}
    if tcp:
        args.update(host=env["PSTEST_HOST"], port=int(env["PSTEST_PORT"]))
    else:
        args.update(host="localhost", unix_socket=env["PSTEST_SOCKET"])
    return args


def select_one(conn):
    """Runs SELECT 1 on CONN (a DB-API connection) and reads its row."""
    cur = conn.cursor()
    cur.execute("SELECT 1")
    cur.fetchall()
    cur.close()


def make_op(kind, args):
    """The op of KIND (see the usage) with MySQLdb.connect() keyword arguments ARGS."""
    if kind == "persistent":
        kept = MySQLdb.connect(**args)
        return lambda: select_one(kept)
    if kind == "queuepool":
        from sqlalchemy.pool import QueuePool
        borrow = QueuePool(lambda: MySQLdb.connect(**args)).connect
    else:
        def borrow():
            return MySQLdb.connect(**args)

    def op():
        conn = borrow()
        select_one(conn)
        conn.close()
    return op


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("mysqldb", "queuepool", "persistent") or \
            sys.argv[2:] not in ([], ["--tcp"]):
        sys.exit(__doc__)
    op = make_op(sys.argv[1], connect_args(sys.argv[2:] == ["--tcp"]))
    op()
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        t0 = time.monotonic()
        for _ in range(n):
            op()
        print(f"{time.monotonic() - t0:.9f}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except MySQLdb.Error as e:
        print(f"error={e.args[0] if e.args else 0}: {e}", flush=True)
        sys.exit(1)
