#!/usr/bin/python3
"""bench_alternate.py: compares two programs that cannot share a process by letting them take
turns: batches of ops alternate between two worker processes, each timed by the worker itself,
so that both rates see the same machine at (nearly) the same moments, as the batches inside one
bench_connect process do.

Usage: bench_alternate.py SECONDS BATCH :: A_COMMAND... :: B_COMMAND...

Each COMMAND starts a worker (tests/apps/bench_batches, scripts/lib/bench_python.py) that prints
"ready" once set up, then, for each line N written to its stdin, runs N ops and prints the
seconds they took. After one unmeasured batch each, batches of BATCH ops go to A, B, B, A, A,
B, ... (each side as often first as second) until the two sides' measured time adds up to
SECONDS. Prints a_ops_per_sec, b_ops_per_sec, ratio (B's rate over A's) and batches (per side).
A worker that fails ends the run: its "error=" line (or its exit) is printed, exit status 1.
"""
import subprocess
import sys


def fail(side, proc, line):
    """Reports the failure of worker SIDE and exits 1."""
    err = proc.stderr.read() if proc.poll() is not None else ""
    print(f"error=worker {side}: {line.strip() or 'exited'} {err.strip()[:300]}")
    sys.exit(1)


def start(side, argv):
    """Starts worker SIDE with ARGV and waits for its "ready"."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        fail(side, proc, line)
    return proc


def batch(side, proc, n):
    """Runs one batch of N ops on worker SIDE; returns its seconds."""
    proc.stdin.write(f"{n}\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    try:
        return float(line)
    except ValueError:
        fail(side, proc, line)


def main():
    args = sys.argv[1:]
    if len(args) < 5 or args[2] != "::" or args.count("::") != 2:
        sys.exit(__doc__)
    seconds, n = float(args[0]), int(args[1])
    split = args.index("::", 3)
    workers = {"A": start("A", args[3:split]), "B": start("B", args[split + 1:])}
    for side, proc in workers.items():
        batch(side, proc, n)  # unmeasured
    took = {"A": 0.0, "B": 0.0}
    rounds = 0
    while took["A"] + took["B"] < seconds or rounds == 0:
        order = ("A", "B") if rounds % 2 == 0 else ("B", "A")
        for side in order:
            took[side] += batch(side, workers[side], n)
        rounds += 1
    for side, proc in workers.items():
        proc.stdin.close()
        if proc.wait() != 0:
            fail(side, proc, proc.stdout.read())
    a, b = rounds * n / took["A"], rounds * n / took["B"]
    print(f"a_ops_per_sec={a:.1f}\nb_ops_per_sec={b:.1f}\nratio={b / a:.4f}\nbatches={rounds}")


if __name__ == "__main__":
    main()
