#!/usr/bin/python3
"""rails_leak.py N: what Rails' MySQL adapter does to a session, from Python MySQLdb, leaked.

Each iteration connects as the app user over the socket (autocommit on, as Rails runs), sends
the adapter's connect-time SET (sql_mode built from the session's own value with CONCAT, and two
literals), reads the session back, and never closes the connection (kept referenced). Every
10th iteration also reads back the session of a connection leaked earlier: it must still hold
what its SET made, whether or not the shim reclaimed it meanwhile.
Prints iterations, errors, wrong_state (readings that lost the SET) and, on errors,
first_error; exits 1 if any iteration failed.
"""
import os
import sys

import MySQLdb

RAILS_SET = ("SET @@SESSION.sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO'), "
             "@@SESSION.sql_auto_is_null = 0, @@SESSION.wait_timeout = 2147483")


def session_ok(conn):
    """True when CONN's session still holds what RAILS_SET made."""
    cur = conn.cursor()
    cur.execute("SELECT @@sql_mode, @@sql_auto_is_null, @@wait_timeout, COUNT(*) FROM items")
    mode, auto_is_null, timeout, _ = cur.fetchone()
    cur.close()
    if isinstance(mode, bytes):
        mode = mode.decode()
    return "NO_AUTO_VALUE_ON_ZERO" in mode and int(auto_is_null) == 0 and int(timeout) == 2147483


def main(argv):
    """Runs the loop and returns the exit code."""
    if len(argv) > 1 or (argv and not argv[0].isdigit()):
        print("error=0: usage: rails_leak.py N")
        return 1
    n = int(argv[0]) if argv else 200
    env = os.environ
    args = dict(user=env["PSTEST_USER"], passwd=env["PSTEST_PASSWORD"], db=env["PSTEST_DB"],
                host="localhost", unix_socket=env["PSTEST_SOCKET"], autocommit=True)
    errors, wrong, first_error, leaked = 0, 0, None, []
    for i in range(n):
        try:
            conn = MySQLdb.connect(**args)
            cur = conn.cursor()
            cur.execute(RAILS_SET)
            cur.close()
            wrong += not session_ok(conn)
            leaked.append(conn)
            if i % 10 == 9:
                wrong += not session_ok(leaked[i // 2])
        except MySQLdb.Error as e:
            errors += 1
            if first_error is None:
                code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
                first_error = "%s: %s" % (code, e.args[-1] if e.args else e)
    print("iterations=%d\nerrors=%d\nwrong_state=%d" % (n, errors, wrong))
    if errors:
        print("first_error=%s" % first_error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
