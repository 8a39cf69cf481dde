"""The mail ledger across repeated losses of the active node in the
replicated lab.

Each round waits until both nodes are in sync. It starts a client that
streams numbered messages through the VIP and records every one that got
a 250, and it flags one earlier message and expunges another over IMAP.
Then it loses the active node at a random moment: SIGKILL to all its
hapostd processes, or a power-off with "deploy/lab fail" (alternating,
the first kind chosen at random). Once a node serves at the VIP again, every
acknowledged message must be readable there exactly once over IMAP, the
expunged ones gone and the flagged ones flagged. A powered-off node is
recovered before the next round.

Environment:
    CLUSTER_LEDGER_KILLS   rounds [10]
    CLUSTER_LEDGER_SEED    seed of the random choices [from the clock;
                           printed in the timings for a rerun]
"""

import os
import random
import statistics
import time

import repl_lab
from conftest import TIMINGS, Streamer, wait_until

KILLS = int(os.environ.get("CLUSTER_LEDGER_KILLS", "10"))
SEED = int(os.environ.get("CLUSTER_LEDGER_SEED", str(time.time_ns())))


def test_ledger_survives_kills(lab):
    rng = random.Random(SEED)
    ledger = repl_lab.Ledger()
    box = repl_lab.Mailbox(lab)
    active, _ = repl_lab.wait_in_sync(lab)
    tag = lab.new_tag()
    ledger.add_sent(tag, lab.send(tag, 10))
    ledger.check(lab, active)
    first_kind = rng.choice(("kill", "fail"))
    failovers = []
    for n in range(1, KILLS + 1):
        kind = first_kind if n % 2 else \
            ("fail" if first_kind == "kill" else "kill")
        active, standby = repl_lab.wait_in_sync(lab, 180)
        streamer = Streamer(lab, lab.new_tag())
        streamer.start()
        try:
            wait_until(lambda: len(streamer.acked) >= 5, 30,
                       f"round {n}: the first messages")
            flag_id, expunge_id = ledger.pick_live(2, rng)
            box.flag([flag_id])
            ledger.flagged.add(flag_id)
            box.expunge([expunge_id])
            ledger.expunged.add(expunge_id)
            # The kill lands at a random moment of the stream.
            time.sleep(rng.uniform(0.0, 2.0))
            t0 = time.monotonic()
            if kind == "fail":
                lab.run("fail", active)
            else:
                repl_lab.kill_hapostd(lab, active)
            node = lab.wait_serving(timeout=120)
            serving_after = time.monotonic() - t0
            before = len(streamer.acked)
            wait_until(lambda: len(streamer.acked) >= before + 5, 60,
                       f"round {n}: messages accepted after the failover")
        finally:
            streamer.stop()
        ledger.add_stream(streamer)
        ledger.check(lab, node)
        failovers.append(serving_after)
        TIMINGS.append(f"ledger round {n}: {kind} of {active} -> serving "
                       f"on {node} after {serving_after:.2f}s; "
                       f"{len(streamer.acked)} messages acked, "
                       f"{streamer.errors} client errors")
        if kind == "fail":
            lab.run("recover", active)
        repl_lab.cleanup_failures(lab)
    repl_lab.wait_in_sync(lab, 180)
    repl_lab.wait_same_manifests(lab)
    TIMINGS.append(f"ledger: {KILLS} losses of the active node (seed "
                   f"{SEED}), serving again after a median of "
                   f"{statistics.median(failovers):.2f}s (max "
                   f"{max(failovers):.2f}s); {len(ledger.acked)} messages "
                   f"acked, {len(ledger.flagged)} flagged and "
                   f"{len(ledger.expunged)} expunged before a kill, all "
                   "as acknowledged")
