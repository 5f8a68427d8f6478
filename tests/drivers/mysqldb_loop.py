#!/usr/bin/python3
"""mysqldb_loop.py N [--tcp] [--leak]: a legacy Python MySQLdb loop.

Each iteration connects as the app user (socket PSTEST_SOCKET, or PSTEST_HOST:PSTEST_PORT with
--tcp), runs SELECT CONNECTION_ID() and SELECT COUNT(*) FROM items, and closes the connection.
With --leak the connection is never closed (kept referenced, so Python does not close it
either): the leak legacy code has; its reads are committed (MySQLdb turns autocommit off, and an
open transaction, even a read-only one, keeps a connection from being reclaimed).
Prints iterations, errors, distinct_ids (distinct CONNECTION_ID() values) and, on errors,
first_error; exits 1 if any iteration failed.
"""
import os
import sys

import MySQLdb


def connect_args(tcp):
    """Keyword arguments for MySQLdb.connect() from the PSTEST_* environment."""
    env = os.environ
    args = dict(user=env["PSTEST_USER"], passwd=env["PSTEST_PASSWORD"], db=env["PSTEST_DB"])
    if tcp:
        args.update(host=env["PSTEST_HOST"], port=int(env["PSTEST_PORT"]))
    else:
        args.update(host="localhost", unix_socket=env["PSTEST_SOCKET"])
    return args


def main(argv):
    """Runs the loop and returns the exit code."""
    tcp = "--tcp" in argv
    leak = "--leak" in argv
    counts = [a for a in argv if a not in ("--tcp", "--leak")]
    if len(counts) > 1 or (counts and not counts[0].isdigit()):
        print("error=0: usage: mysqldb_loop.py N [--tcp]")
        return 1
    n = int(counts[0]) if counts else 100
    try:
        args = connect_args(tcp)
    except KeyError as e:
        print("error=0: %s not set" % e.args[0])
        return 1
    errors, first_error, ids, leaked = 0, None, set(), []
    for _ in range(n):
        try:
            conn = MySQLdb.connect(**args)
            cur = conn.cursor()
            cur.execute("SELECT CONNECTION_ID()")
            ids.add(cur.fetchone()[0])
            cur.execute("SELECT COUNT(*) FROM items")
            cur.fetchall()
            cur.close()
            if leak:
                conn.commit()
                leaked.append(conn)
            else:
                conn.close()
        except MySQLdb.Error as e:
            errors += 1
            if first_error is None:
                code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
                first_error = "%s: %s" % (code, e.args[-1] if e.args else e)
    print("iterations=%d\nerrors=%d\ndistinct_ids=%d" % (n, errors, len(ids)))
    if errors:
        print("first_error=%s\nerror=%s" % (first_error, first_error))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
