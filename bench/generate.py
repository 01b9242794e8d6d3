#!/usr/bin/env python3
"""Seeded generator of a synthetic posrecon night in the canonical CSV formats (issue 7).

    python3 bench/generate.py --rows 1000000 --seed 1 --out bench/data/1m

writes OUT/terminal.csv (exactly --rows terminal records, business day 2026-11-23, times
08:00:00-22:00:00) and OUT/bank.csv (settle_date 2026-11-24, rows in random order). Run the
night with:

    posrecon reconcile --terminal OUT/terminal.csv --bank OUT/bank.csv \
        --as-of "2026-11-24 22:00" --out OUT/out --no-ledger

Mix (issue 7): ~2,000 merchants with 1-5 terminals each (one batch per terminal), amounts
skewed small (log-normal, median ~35 CNY), ~2 % VOID rows (each cancels an earlier SALE of the
same terminal and batch, same amount, card and orig_trace_no; neither is settled), ~1 % REFUND
rows (orig_rrn = an earlier sale of the same terminal; settled as REFUND with fee 0.00),
~0.5 % PREAUTH_COMPLETE, ~0.3 % sales never settled, ~0.2 % bank-only settlements, ~0.1 %
amount mismatches, ~0.05 % duplicate settlements (identical bank row twice). The percentages are
of the terminal row count. No two sales of a terminal share card and amount within 2 minutes, so
no SUSPECTED_DUPLICATE is seeded; bank-only rows use a card BIN no terminal row uses, so they
never pair tolerantly.

Standard library only; deterministic for a given (--rows, --seed, --merchants). Prints the row
counts and the outcome counts posrecon should report for the night.
"""

import argparse
import os
import random
import sys
import time

BUSINESS_DAY = "2026-11-23"
SETTLE_DATE = "2026-11-24"
DAY_START = 8 * 3600            # 08:00:00
DAY_SECONDS = 14 * 3600         # to 22:00:00 inclusive

P_VOID = 0.02
P_REFUND = 0.01
P_PREAUTH = 0.005
# Settlement fates are drawn per settleable sale (about 95 % of the rows); scale them so the
# percentages come out of the terminal row count.
_SETTLEABLE = 1.0 - 2 * P_VOID - P_REFUND
P_UNSETTLED = 0.003 / _SETTLEABLE
P_BANK_ONLY = 0.002
P_MISMATCH = 0.001 / _SETTLEABLE
P_DUP_SETTLEMENT = 0.0005 / _SETTLEABLE

# Card BINs used on the terminals; bank-only rows use BANK_ONLY_BIN, never seen on a terminal.
BINS = ["622848", "621700", "622202", "622700", "625907", "621226", "622588", "623668",
        "621661", "622262", "436742", "524094", "620522", "621483", "628266", "356833"]
BANK_ONLY_BIN = "625966"
FEE_RATES_BP = [38, 38, 38, 38, 60, 60, 125]   # fee rate in 1/10000 (0.38 %, 0.60 %, 1.25 %)
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

FLUSH_BYTES = 4 << 20


def fmt_amount(cents):
    return "%d.%02d" % divmod(cents, 100)


class BankSpool:
    """Bank lines go to random bucket files, each is then shuffled in memory: a random order
    with memory bounded by one bucket."""

    def __init__(self, out_dir, rows, rng):
        self.k = max(1, rows // 250_000)
        self.rng = rng
        self.paths = [os.path.join(out_dir, ".bank-bucket-%03d.tmp" % i) for i in range(self.k)]
        self.files = [open(p, "w", encoding="utf-8", newline="\n", buffering=1 << 20)
                      for p in self.paths]
        self.pending = [[] for _ in range(self.k)]
        self.count = 0

    def add(self, line):
        b = self.rng.randrange(self.k) if self.k > 1 else 0
        buf = self.pending[b]
        buf.append(line)
        self.count += 1
        if len(buf) >= 20_000:
            self.files[b].write("".join(buf))
            buf.clear()

    def finish(self, path, header):
        for b in range(self.k):
            self.files[b].write("".join(self.pending[b]))
            self.files[b].close()
        with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
            out.write(header)
            for p in self.paths:
                with open(p, encoding="utf-8", newline="\n") as f:
                    lines = f.read().split("\n")
                os.remove(p)
                if lines and lines[-1] == "":
                    lines.pop()
                self.rng.shuffle(lines)
                if lines:
                    out.write("\n".join(lines))
                    out.write("\n")


def build_terminals(rng, merchants):
    """[(merchant_id, terminal_id, batch_no, fee_bp, weight)], merchant and terminal ids unique."""
    if not 1 <= merchants <= 9999:
        sys.exit("--merchants must be 1..9999")
    terms = []
    for m in range(merchants):
        region = rng.randrange(100, 1000)
        mcc = rng.choice(["5812", "5411", "5311", "5942", "5499", "5814", "7011", "5732"])
        mid = "898%03d%s%05d" % (region, mcc, m)
        fee_bp = rng.choice(FEE_RATES_BP)
        busy = rng.lognormvariate(0.0, 0.9)          # merchant size, skewed
        n_term = rng.randint(1, 5)
        tprefix = rng.randrange(10, 100)
        for k in range(n_term):
            tid = "%02d%04d%02d" % (tprefix, m, k + 1)
            batch = "%06d" % rng.randrange(1, 1000)
            weight = busy * rng.uniform(0.5, 1.5)
            terms.append((mid, tid, batch, fee_bp, weight))
    return terms


def allocate(rng, total, weights):
    """Split total rows over terminals by weight (largest remainder, deterministic)."""
    wsum = sum(weights)
    exact = [total * w / wsum for w in weights]
    counts = [int(x) for x in exact]
    rest = total - sum(counts)
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[:rest]:
        counts[i] += 1
    return counts


def main():
    ap = argparse.ArgumentParser(description="Generate a synthetic posrecon night (issue 7 mix).")
    ap.add_argument("--rows", type=int, required=True, help="terminal rows to write")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--out", required=True, help="folder for terminal.csv and bank.csv")
    ap.add_argument("--merchants", type=int, default=2000, help="merchants (default 2000)")
    args = ap.parse_args()
    if args.rows < 1:
        sys.exit("--rows must be positive")

    t0 = time.perf_counter()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)

    # Lookup tables: time strings, card pool, auth codes.
    times = ["%s %02d:%02d:%02d" % (BUSINESS_DAY, s // 3600, s // 60 % 60, s % 60)
             for s in range(DAY_START, DAY_START + DAY_SECONDS + 1)]
    cards = ["%s******%04d" % (rng.choice(BINS), rng.randrange(10000)) for _ in range(1 << 18)]
    auths = ["".join(rng.choice(ALNUM) for _ in range(6)) for _ in range(1 << 16)]
    getrandbits = rng.getrandbits
    randrange = rng.randrange
    rand = rng.random
    lognorm = rng.lognormvariate

    terms = build_terminals(rng, args.merchants)
    counts = allocate(rng, args.rows, [t[4] for t in terms])

    rrn_next = 632700000000 + rng.randrange(1000)

    out = {  # expected outcomes
        "t_matched": 0, "t_mismatch": 0, "t_voided": 0, "t_void_applied": 0, "t_unsettled": 0,
        "b_matched": 0, "b_mismatch": 0, "b_bank_only": 0, "b_dup": 0,
        "sale": 0, "preauth": 0, "void": 0, "refund": 0,
    }

    term_path = os.path.join(args.out, "terminal.csv")
    bank_path = os.path.join(args.out, "bank.csv")
    spool = BankSpool(args.out, args.rows, random.Random(args.seed * 7919 + 17))
    tf = open(term_path, "w", encoding="utf-8", newline="\n", buffering=1 << 20)
    tf.write("merchant_id,terminal_id,batch_no,trace_no,rrn,auth_code,txn_type,txn_time,"
             "amount,currency,card_no,orig_trace_no,orig_rrn\n")
    tbuf = []
    tbytes = 0

    for (mid, tid, batch, fee_bp, _w), n in zip(terms, counts):
        if n == 0:
            continue
        tpre = "%s,%s,%s," % (mid, tid, batch)
        bpre = "%s,%s,%s,%s," % (SETTLE_DATE, mid, tid, batch)
        trace = randrange(1, 999_999 - n - 2 * n // 100 - 10)
        secs = sorted([randrange(DAY_SECONDS + 1) for _ in range(n)])
        rows = []          # [type, trace, rrn, auth, sec, cents, card, orig_trace, orig_rrn]
        eligible = []      # indices of SALEs not voided or refunded
        voided = set()
        last_seen = {}     # (card, cents) -> sec of last SALE, to avoid suspected duplicates
        for i in range(n):
            sec = secs[i]
            r = rand()
            if r < P_VOID and eligible:
                # void one of the last few eligible sales
                k = len(eligible) - 1 - (randrange(min(3, len(eligible))))
                j = eligible.pop(k)
                s = rows[j]
                voided.add(j)
                rows.append(["VOID", trace + i, rrn_next, auths[getrandbits(16)], sec, s[5], s[6],
                             "%06d" % s[1], ""])
            elif r < P_VOID + P_REFUND and eligible:
                j = eligible.pop(randrange(len(eligible)))
                s = rows[j]
                cents = s[5] if rand() < 0.4 else max(1, int(s[5] * rand()))
                rows.append(["REFUND", trace + i, rrn_next, auths[getrandbits(16)], sec, cents,
                             s[6], "", str(s[2])])
            else:
                cents = int(lognorm(3.55, 1.1) * 100)     # median ~35 CNY
                if cents < 1:
                    cents = 1
                elif cents > 5_000_000:
                    cents = 5_000_000
                if rand() < 0.25 and cents >= 100:
                    cents -= cents % 100                 # round yuan
                card = cards[getrandbits(18)]
                while True:
                    prev = last_seen.get((card, cents))
                    if prev is None or sec - prev > 150:
                        break
                    card = cards[getrandbits(18)]
                last_seen[(card, cents)] = sec
                typ = "PREAUTH_COMPLETE" if rand() < P_PREAUTH else "SALE"
                rows.append([typ, trace + i, rrn_next, auths[getrandbits(16)], sec, cents,
                             card, "", ""])
                if typ == "SALE":
                    eligible.append(i)
            rrn_next += 1

        bank_only_next = trace + n + 1
        for i, row in enumerate(rows):
            typ, tr, rrn, auth, sec, cents, card, otr, orrn = row
            amt = fmt_amount(cents)
            line = "%s%06d,%d,%s,%s,%s,%s,CNY,%s,%s,%s\n" % (
                tpre, tr, rrn, auth, typ, times[sec], amt, card, otr, orrn)
            tbuf.append(line)
            tbytes += len(line)
            if typ == "VOID":
                out["void"] += 1
                out["t_void_applied"] += 1
                continue
            if i in voided:
                out["sale"] += 1
                out["t_voided"] += 1
                continue
            if typ == "REFUND":
                out["refund"] += 1
                out["t_matched"] += 1
                out["b_matched"] += 1
                spool.add("%s%06d,%d,%s,%s,%s,%s,0.00,%s,CNY,%s\n" % (
                    bpre, tr, rrn, auth, typ, times[sec], amt, amt, card))
                continue
            out["sale" if typ == "SALE" else "preauth"] += 1
            r = rand()
            if r < P_UNSETTLED:
                out["t_unsettled"] += 1
                continue
            if r < P_UNSETTLED + P_MISMATCH:
                bcents = cents + 1 + randrange(5000) if rand() < 0.5 else cents * 10
                bamt = fmt_amount(bcents)
                out["t_mismatch"] += 1
                out["b_mismatch"] += 1
            else:
                bcents = cents
                bamt = amt
                out["t_matched"] += 1
                out["b_matched"] += 1
            fee = (bcents * fee_bp + 5000) // 10000
            bline = "%s%06d,%d,%s,%s,%s,%s,%s,%s,CNY,%s\n" % (
                bpre, tr, rrn, auth, typ, times[sec], bamt, fmt_amount(fee),
                fmt_amount(bcents - fee), card)
            spool.add(bline)
            if P_UNSETTLED + P_MISMATCH <= r < P_UNSETTLED + P_MISMATCH + P_DUP_SETTLEMENT:
                spool.add(bline)
                out["b_dup"] += 1

        # bank-only settlements on this terminal: rrn, trace and card unknown to the terminal
        n_bank_only = sum(1 for _ in range(n) if rand() < P_BANK_ONLY) if n < 64 else \
            int(n * P_BANK_ONLY + rand())
        for _ in range(n_bank_only):
            cents = max(1, int(lognorm(3.55, 1.1) * 100))
            fee = (cents * fee_bp + 5000) // 10000
            sec = randrange(DAY_SECONDS + 1)
            spool.add("%s%06d,%d,%s,SALE,%s,%s,%s,%s,CNY,%s******%04d\n" % (
                bpre, bank_only_next, rrn_next, auths[getrandbits(16)], times[sec],
                fmt_amount(cents), fmt_amount(fee), fmt_amount(cents - fee),
                BANK_ONLY_BIN, randrange(10000)))
            bank_only_next += 1
            rrn_next += 1
            out["b_bank_only"] += 1

        if tbytes >= FLUSH_BYTES:
            tf.write("".join(tbuf))
            tbuf.clear()
            tbytes = 0

    tf.write("".join(tbuf))
    tf.close()
    spool.finish(bank_path, "settle_date,merchant_id,terminal_id,batch_no,trace_no,rrn,"
                 "auth_code,txn_type,txn_time,amount,fee,net_amount,currency,card_no\n")
    elapsed = time.perf_counter() - t0

    n_term = args.rows
    n_bank = spool.count
    used_terms = sum(1 for c in counts if c)
    print("generated seed %d in %.1f s: %d merchants, %d terminals (%d with rows)"
          % (args.seed, elapsed, args.merchants, len(terms), used_terms))
    print("%s: %d rows, %d bytes (SALE %d, PREAUTH_COMPLETE %d, VOID %d, REFUND %d)"
          % (term_path, n_term, os.path.getsize(term_path), out["sale"], out["preauth"],
             out["void"], out["refund"]))
    print("%s: %d rows, %d bytes" % (bank_path, n_bank, os.path.getsize(bank_path)))
    print("expected outcomes (as of %s 22:00, default policy):" % SETTLE_DATE)
    print("  terminal: MATCHED %d, AMOUNT_MISMATCH %d, VOIDED %d, VOID_APPLIED %d, UNSETTLED %d"
          % (out["t_matched"], out["t_mismatch"], out["t_voided"], out["t_void_applied"],
             out["t_unsettled"]))
    print("  bank:     MATCHED %d, AMOUNT_MISMATCH %d, BANK_ONLY %d, DUPLICATE_SETTLEMENT %d"
          % (out["b_matched"], out["b_mismatch"], out["b_bank_only"], out["b_dup"]))
    assert out["t_matched"] + out["t_mismatch"] + out["t_voided"] + out["t_void_applied"] \
        + out["t_unsettled"] == n_term
    assert out["b_matched"] + out["b_mismatch"] + out["b_bank_only"] + out["b_dup"] == n_bank


if __name__ == "__main__":
    main()
