#!/usr/bin/env python3
"""Generate the posrecon sample night (terminal, bank and reference files).

Deterministic: a fixed seed and no clock, so running it again reproduces
byte-identical files. Standard library only. Run from anywhere:

    python3 sample-data/generate.py

Every generated record carries the outcome it is meant to seed; README.md's
tables and expected counts are computed from that bookkeeping, never typed.
"""

import csv
import os
import random
from collections import OrderedDict
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

SEED = 20261124
OUT = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(SEED)

D23 = date(2026, 11, 23)
D24 = date(2026, 11, 24)
SETTLE_DATE = "2026-11-24"
AS_OF = "2026-11-24 22:00:00"
CENT = Decimal("0.01")

TERMINAL_HEADER = [
    "merchant_id", "terminal_id", "batch_no", "trace_no", "rrn", "auth_code", "txn_type",
    "txn_time", "amount", "currency", "card_no", "orig_trace_no", "orig_rrn",
]
BANK_HEADER = [
    "settle_date", "merchant_id", "terminal_id", "batch_no", "trace_no", "rrn", "auth_code",
    "txn_type", "txn_time", "amount", "fee", "net_amount", "currency", "card_no",
]
MERCHANT_HEADER = ["merchant_id", "merchant_name", "void_enabled", "refund_enabled", "fee_rate"]
CARD_STATUS_HEADER = ["card_no", "status"]
CANCEL_HEADER = [
    "request_ref", "merchant_id", "merchant_name", "terminal_id", "trace_no", "rrn",
    "txn_time", "amount", "refund_amount", "reason", "customer_consent",
]

OUTCOMES = [
    "MATCHED", "AMOUNT_MISMATCH", "FEE_MISMATCH", "VOIDED", "VOID_APPLIED",
    "VOIDED_BUT_SETTLED", "PENDING", "UNSETTLED", "ORPHAN_VOID", "SUSPECTED_DUPLICATE",
    "BANK_ONLY", "DUPLICATE_SETTLEMENT",
]

# --------------------------------------------------------------------------
# Merchants and terminals
# --------------------------------------------------------------------------

MERCHANTS = OrderedDict([
    ("A", dict(mid="898310058120001", name="上海静安咖啡有限公司", void=True, refund=True,
               rate=Decimal("0.0038"))),
    ("B", dict(mid="898330154110002", name="杭州西湖书店", void=False, refund=True,
               rate=Decimal("0.0060"))),
    ("C", dict(mid="898110058990003", name="北京朝阳便利店", void=True, refund=False,
               rate=Decimal("0.0038"))),
])

A1, A2, B1, B2, C1 = "31000101", "31000102", "33000201", "33000202", "11000301"

# tid -> merchant, batch on 11-23, batch on 11-24, first trace number,
# currency the terminal writes (terminal 33000202 leaves it empty = CNY),
# random transactions on 11-23 and on 11-24.
TERMINALS = OrderedDict([
    (A1, dict(m="A", batch={D23: "000231", D24: "000232"}, trace0=1201, cur="CNY", n={D23: 28, D24: 29})),
    (A2, dict(m="A", batch={D23: "000187", D24: "000188"}, trace0=4410, cur="CNY", n={D23: 24, D24: 27})),
    (B1, dict(m="B", batch={D23: "000064", D24: "000065"}, trace0=310, cur="CNY", n={D23: 14, D24: 15})),
    (B2, dict(m="B", batch={D23: "000412", D24: "000413"}, trace0=8820, cur="", n={D23: 12, D24: 13})),
    (C1, dict(m="C", batch={D23: "000309", D24: "000310"}, trace0=15530, cur="CNY", n={D23: 22, D24: 24})),
])


def merchant_of(tid):
    return MERCHANTS[TERMINALS[tid]["m"]]


def money(x):
    return Decimal(x).quantize(CENT)


def fee_for(amount, rate):
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt_time(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def at(d, hms):
    return datetime.combine(d, time.fromisoformat(hms))


def business_day(dt):
    return dt.date() + timedelta(days=1) if dt.time() >= time(23, 0) else dt.date()


# --------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------

MASKED_BINS = ["622848", "621700", "622202", "621226", "622588", "623668", "621483",
               "622262", "436742", "622700", "625907", "621661"]
# Public test card numbers (all Luhn-valid); further full PANs are synthetic
# numbers in the UnionPay test range 620000.
KNOWN_TEST_PANS = [
    "6200000000000005", "4111111111111111", "5555555555554444", "4012888888881881",
    "5105105105105100", "4242424242424242", "3566002020360505", "6011111111111117",
    "5200828282828210", "4000056655665556", "6011000990139424", "2223003122003222",
]

used_masks = set()
full_pans = []  # every full PAN written to any file, in order of first use


def mask(card):
    return card if "*" in card else card[:6] + "******" + card[-4:]


def luhn_ok(pan):
    total = 0
    for i, ch in enumerate(reversed(pan)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(prefix):
    for check in "0123456789":
        if luhn_ok(prefix + check):
            return prefix + check
    raise AssertionError("unreachable")


assert all(luhn_ok(p) and len(p) == 16 for p in KNOWN_TEST_PANS)
_known = list(KNOWN_TEST_PANS)


def new_masked_card():
    while True:
        m = rng.choice(MASKED_BINS) + "******" + "%04d" % rng.randrange(10000)
        if m not in used_masks:
            used_masks.add(m)
            return m


def new_full_pan():
    while True:
        if _known:
            pan = _known.pop(0)
        else:
            pan = luhn_complete("620000" + "%09d" % rng.randrange(10 ** 9))
        if mask(pan) not in used_masks:
            used_masks.add(mask(pan))
            full_pans.append(pan)
            return pan


FULL_PAN_SHARE = 0.12  # random rows; seeded rows add a few more to reach ~10 %


def new_random_card():
    return new_full_pan() if rng.random() < FULL_PAN_SHARE else new_masked_card()


# --------------------------------------------------------------------------
# Terminal transactions
# --------------------------------------------------------------------------

txns = []
used_slots = set()  # (tid, datetime)


class Txn:
    def __init__(self, file_day, tid, typ, when, amount, card, currency, tag, bank, key, orig,
                 why):
        self.file_day = file_day      # D23 or D24: which terminal file holds it
        self.tid = tid
        self.typ = typ
        self.when = when
        self.amount = money(amount)
        self.card = card
        self.currency = currency
        self.tag = tag                # expected terminal outcome
        self.bank = bank              # None, normal, amount, fee, dup, tolerant
        self.key = key                # name of the seeded case, or None
        self.orig = orig              # the SALE a VOID or REFUND refers to
        self.why = why
        self.orig_trace_override = None
        self.trace = None
        self.rrn = None
        self.auth = None

    @property
    def m(self):
        return merchant_of(self.tid)

    @property
    def batch(self):
        return TERMINALS[self.tid]["batch"][self.file_day]


def add(file_day, tid, typ, when, amount, card=None, currency=None, tag=None, bank="default",
        key=None, orig=None, why=""):
    assert business_day(when) == file_day, (key, when)
    assert (tid, when) not in used_slots, (tid, when)
    used_slots.add((tid, when))
    if card is None:
        card = orig.card if orig is not None else new_masked_card()
    if currency is None:
        currency = TERMINALS[tid]["cur"]
    if tag is None:
        tag = "MATCHED" if file_day == D23 else "PENDING"
    if bank == "default":
        bank = "normal" if file_day == D23 else None
    t = Txn(file_day, tid, typ, when, amount, card, currency, tag, bank, key, orig, why)
    txns.append(t)
    return t


def void_of(sale, minutes_later, tag, key=None, why=""):
    when = sale.when + timedelta(minutes=minutes_later, seconds=rng.randrange(5, 55))
    return add(sale.file_day, sale.tid, "VOID", when, sale.amount, card=sale.card,
               currency=sale.currency, tag=tag, bank=None, key=key, orig=sale, why=why)


def half_up_tie_amount(rate, lo_cents, hi_cents):
    """An amount whose fee ends in exactly half a fen with an even fen below:
    round-half-up and round-half-even disagree on it."""
    for cents in range(lo_cents, hi_cents):
        tenth_fen = cents * rate  # fee in fen, as a Decimal
        if tenth_fen % 1 == Decimal("0.5") and int(tenth_fen) % 2 == 0:
            return Decimal(cents) / 100
    raise AssertionError("no tie amount in range")


# ---- seeded cases on business day 2026-11-23 (terminal-2026-11-23.csv) ----

S = {}  # seeded originals by key

S["amount_mismatch"] = add(D23, A1, "SALE", at(D23, "11:26:14"), "10.00", tag="AMOUNT_MISMATCH",
                           bank="amount", key="AMOUNT_MISMATCH",
                           why="bank settled 100.00 under the same rrn, terminal captured 10.00")
S["fee_mismatch"] = add(D23, A1, "SALE", at(D23, "15:08:51"), "100.00", bank="fee",
                        key="FEE_MISMATCH",
                        why="bank fee 1.00 on 100.00; contracted 0.0038 gives 0.38")
S["voided"] = add(D23, A1, "SALE", at(D23, "09:41:07"), "46.00", card=new_full_pan(),
                  tag="VOIDED", bank=None, key="VOIDED",
                  why="voided in its own batch and correctly not settled")
S["voided_void"] = void_of(S["voided"], 8, "VOID_APPLIED", key="VOIDED (its VOID)",
                           why="the VOID that cancels the sale above")
S["vbs"] = add(D23, A2, "SALE", at(D23, "13:12:40"), "128.00", tag="VOIDED_BUT_SETTLED",
               key="VOIDED_BUT_SETTLED",
               why="voided on the terminal, yet the bank settled the sale")
S["vbs_void"] = void_of(S["vbs"], 7, "VOID_APPLIED", key="VOIDED_BUT_SETTLED (its VOID)",
                        why="the VOID of the sale above; the VOID itself is never settled")
S["unsettled1"] = add(D23, A2, "SALE", at(D23, "17:33:21"), "64.00", tag="UNSETTLED", bank=None,
                      key="UNSETTLED", why="11-23 sale the bank never settled (lag is over)")
S["unsettled2"] = add(D23, B1, "SALE", at(D23, "12:05:48"), "156.80", tag="UNSETTLED", bank=None,
                      key="UNSETTLED", why="11-23 sale the bank never settled (lag is over)")
S["orphan"] = add(D23, C1, "VOID", at(D23, "16:22:09"), "23.50", tag="ORPHAN_VOID", bank=None,
                  key="ORPHAN_VOID", why="orig_trace_no names a trace that is not in the batch")
S["orphan"].orig_trace_override = TERMINALS[C1]["trace0"] - 23
dup_card = new_masked_card()
S["dup_first"] = add(D23, A2, "SALE", at(D23, "08:47:12"), "36.00", card=dup_card,
                     key="SUSPECTED_DUPLICATE (earlier)",
                     why="the earlier of two identical sales; settled, matched")
S["dup_later"] = add(D23, A2, "SALE", at(D23, "08:47:52"), "36.00", card=dup_card,
                     tag="SUSPECTED_DUPLICATE", key="SUSPECTED_DUPLICATE",
                     why="same terminal, card and amount 40 s after an earlier sale; both settled")
S["dup_settle"] = add(D23, B2, "SALE", at(D23, "14:36:02"), "219.00", bank="dup",
                      key="DUPLICATE_SETTLEMENT",
                      why="the bank file holds its settlement row twice")
S["tolerant"] = add(D23, A1, "SALE", at(D23, "12:14:26"), "57.00", card=new_full_pan(),
                    bank="tolerant", key="TOLERANT MATCH",
                    why="bank row has no rrn and another trace_no; same terminal, card, amount, "
                        "3 min later: tolerant rule")
amb_card = new_masked_card()
S["amb1"] = add(D23, A2, "SALE", at(D23, "10:00:00"), "35.00", card=amb_card, tag="UNSETTLED",
                bank=None, key="AMBIGUOUS",
                why="two equally close candidates (2 min each) for one bank row: neither pairs")
S["amb2"] = add(D23, A2, "SALE", at(D23, "10:04:00"), "35.00", card=amb_card, tag="UNSETTLED",
                bank=None, key="AMBIGUOUS",
                why="two equally close candidates (2 min each) for one bank row: neither pairs")
S["preauth"] = add(D23, A2, "PREAUTH_COMPLETE", at(D23, "18:05:37"), "680.00",
                   key="PREAUTH_COMPLETE", why="pre-authorisation completion, settled like a sale")
S["usd"] = add(D23, A1, "SALE", at(D23, "14:02:19"), "42.00", currency="USD", key="USD",
               why="USD on the terminal, 840 in the bank file: the same currency")
S["refund_a_sale"] = add(D23, A1, "SALE", at(D23, "08:32:10"), "96.00", key="REFUNDED SALE",
                         why="sale later partly refunded the same day")
S["refund_a"] = add(D23, A1, "REFUND", at(D23, "16:50:44"), "32.00", orig=S["refund_a_sale"],
                    key="REFUND", why="partial refund, settled by the bank as REFUND")
S["c14_sale"] = add(D23, B1, "SALE", at(D23, "10:48:19"), "139.00", key="REFUNDED SALE",
                    why="sale partly refunded the same afternoon (request 14)")
S["c14_refund"] = add(D23, B1, "REFUND", at(D23, "17:15:02"), "45.00", orig=S["c14_sale"],
                      key="REFUND", why="partial refund, settled by the bank as REFUND")
S["tie_b"] = add(D23, B1, "SALE", at(D23, "15:40:10"),
                 half_up_tie_amount(MERCHANTS["B"]["rate"], 2000, 6000), key="FEE HALF-UP",
                 why="fee is exactly half a fen: round half up, not half even")
S["tie_a"] = add(D23, A2, "SALE", at(D23, "16:31:27"),
                 half_up_tie_amount(MERCHANTS["A"]["rate"], 2000, 30000), key="FEE HALF-UP",
                 why="fee is exactly half a fen: round half up, not half even")
S["edge_2259"] = add(D23, C1, "SALE", at(D23, "22:59:59"), "15.80", key="CUTOFF EDGE",
                     why="one second before the 23:00 cutoff: business day 2026-11-23")
S["xfile_sale"] = add(D23, B2, "SALE", at(D23, "11:12:36"), "248.00", key="REFUNDED SALE",
                      why="sale refunded in part the next day (REFUND row in the 11-24 file)")

# Originals of cancellation requests on 2026-11-23 (all settled, MATCHED).
S["c2"] = add(D23, A1, "SALE", at(D23, "09:15:33"), "76.00", key="CR original")
S["c3"] = add(D23, A2, "SALE", at(D23, "11:38:25"), "88.00", key="CR original")
S["c6"] = add(D23, C1, "SALE", at(D23, "13:27:50"), "49.90", key="CR original")
S["c7"] = add(D23, B2, "SALE", at(D23, "10:05:11"), "10.00", key="CR original")
S["c8"] = add(D23, A1, "SALE", at(D23, "16:12:08"), "54.00", key="CR original")
S["c9"] = add(D23, A2, "SALE", at(D23, "15:21:40"), "118.00", key="CR original")
S["c10"] = add(D23, B1, "SALE", at(D23, "14:44:30"), "86.50", key="CR original")
S["c11"] = add(D23, B2, "SALE", at(D23, "16:58:17"), "199.00", key="CR original")
S["c15"] = add(D23, A1, "SALE", at(D23, "17:46:02"), "62.00", key="CR original")
S["c17"] = add(D23, A2, "SALE", at(D23, "19:09:55"), "73.00", card=new_full_pan(),
               key="CR original")

# ---- seeded cases on business day 2026-11-24 (terminal-2026-11-24.csv) ----

S["late1"] = add(D24, C1, "SALE", at(D23, "23:00:00"), "9.90", key="AFTER CUTOFF",
                 why="2026-11-23 23:00:00 is at the cutoff: business day 2026-11-24")
S["late2"] = add(D24, C1, "SALE", at(D23, "23:41:18"), "27.60", key="AFTER CUTOFF",
                 why="after the cutoff: business day 2026-11-24")
S["preauth24"] = add(D24, A2, "PREAUTH_COMPLETE", at(D24, "19:30:12"), "520.00",
                     key="PREAUTH_COMPLETE", why="not settled yet, inside the lag")
S["xfile_refund"] = add(D24, B2, "REFUND", at(D24, "10:20:03"), "68.00", orig=S["xfile_sale"],
                        key="REFUND", why="refund of an 11-23 sale; not settled yet")
S["c1"] = add(D24, A1, "SALE", at(D24, "09:05:47"), "38.00", key="CR original")
S["c5"] = add(D24, B1, "SALE", at(D24, "11:30:15"), "168.00", key="CR original")
S["c13"] = add(D24, A2, "SALE", at(D24, "08:52:06"), "150.00", key="CR original")
S["c13_refund"] = add(D24, A2, "REFUND", at(D24, "15:10:31"), "50.00", orig=S["c13"],
                      key="REFUND", why="partial refund of the sale of request 13")

# ---- random business ----


def random_amount(merchant_key):
    if merchant_key == "A":  # coffee: whole yuan, a few items; sometimes a gift card
        if rng.random() < 0.04:
            return money(rng.choice([200, 300, 500, 860]))
        prices = [9, 12, 15, 18, 22, 25, 28, 30, 32, 35, 38, 42, 45, 48]
        return money(sum(rng.choice(prices) for _ in range(rng.choice([1, 1, 1, 2, 2, 3]))))
    if merchant_key == "B":  # books: often .00 / .50 / .80
        if rng.random() < 0.05:
            return money(rng.randrange(600, 2800))
        yuan = min(max(int(rng.lognormvariate(4.1, 0.6)), 12), 480)
        return money(yuan) + rng.choice([Decimal("0.00"), Decimal("0.00"), Decimal("0.50"),
                                          Decimal("0.80")])
    # convenience store: any cents, mostly small
    cents = min(max(int(rng.lognormvariate(3.1, 0.75) * 100), 500), 50000)
    return Decimal(cents) / 100


def random_time(tid, d):
    end = time(21, 30) if d == D24 else time(22, 0)
    start_s = 8 * 3600
    end_s = end.hour * 3600 + end.minute * 60
    while True:
        when = datetime.combine(d, time()) + timedelta(seconds=rng.randrange(start_s, end_s))
        if (tid, when) not in used_slots and all(
                abs((when - w).total_seconds()) >= 60 for (t, w) in used_slots if t == tid):
            return when


for d in (D23, D24):
    for tid, term in TERMINALS.items():
        for _ in range(term["n"][d]):
            when = random_time(tid, d)
            typ = "SALE"
            add(d, tid, typ, when, random_amount(term["m"]), card=new_random_card())

# --------------------------------------------------------------------------
# Identifiers: trace numbers per terminal in time order, rrn, auth codes
# --------------------------------------------------------------------------

for tid, term in TERMINALS.items():
    seq = term["trace0"]
    for t in sorted((t for t in txns if t.tid == tid), key=lambda t: t.when):
        t.trace = "%06d" % seq
        seq += 1 + (1 if rng.random() < 0.03 else 0)  # now and then a trace is skipped
    term["trace_end"] = seq

used_traces = {(t.tid, t.trace) for t in txns}
rrn_pool = rng.sample(range(100000, 1000000), len(txns) + 10)
used_rrns = set()


def make_rrn(when):
    n = rrn_pool.pop()
    rrn = "6%03d%02d%06d" % (when.timetuple().tm_yday, when.hour, n)
    assert rrn not in used_rrns and len(rrn) == 12
    used_rrns.add(rrn)
    return rrn


def unused_trace(tid):
    while True:
        trace = "%06d" % rng.randrange(900000, 1000000)
        if (tid, trace) not in used_traces:
            used_traces.add((tid, trace))
            return trace


AUTH_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def make_auth():
    if rng.random() < 0.7:
        return "%06d" % rng.randrange(1000000)
    return "".join(rng.choice(AUTH_CHARS) for _ in range(6))


for t in sorted(txns, key=lambda t: (t.when, t.tid)):
    t.rrn = make_rrn(t.when)
    t.auth = make_auth()

orphan_trace = "%06d" % S["orphan"].orig_trace_override
assert (C1, orphan_trace) not in used_traces
used_traces.add((C1, orphan_trace))


def orig_trace_no(t):
    if t.typ != "VOID":
        return ""
    return "%06d" % t.orig_trace_override if t.orig_trace_override else t.orig.trace


def terminal_row(t):
    return [t.m["mid"], t.tid, t.batch, t.trace, t.rrn, t.auth, t.typ, fmt_time(t.when),
            str(t.amount), t.currency, t.card, orig_trace_no(t),
            t.orig.rrn if t.typ == "REFUND" else ""]


# --------------------------------------------------------------------------
# Bank settlement rows (business day 2026-11-23 only)
# --------------------------------------------------------------------------

bank_rows = []  # dicts: row (list), tag, key, why, amount, currency


def bank_currency(cur):
    return {"USD": "840", "": "CNY"}.get(cur, cur)


def bank_row(tid, batch, trace, rrn, auth, typ, when, amount, card, currency, fee=None):
    rate = merchant_of(tid)["rate"]
    if fee is None:
        fee = Decimal("0.00") if typ == "REFUND" else fee_for(amount, rate)
    return [SETTLE_DATE, merchant_of(tid)["mid"], tid, batch, trace, rrn, auth, typ,
            fmt_time(when), str(amount), str(fee), str(amount - fee), currency, card]


def bank_card(t):
    # Most banks mask; a few rows carry the full PAN so bank ingest masks too.
    if "*" not in t.card and rng.random() < 0.35:
        return t.card
    return mask(t.card)


for t in sorted((t for t in txns if t.file_day == D23 and t.bank), key=lambda t: t.rrn):
    batch = "" if rng.random() < 0.10 else t.batch
    cur = bank_currency(t.currency)
    card = bank_card(t)
    tag = {"VOIDED_BUT_SETTLED": "VOIDED_BUT_SETTLED",
           "AMOUNT_MISMATCH": "AMOUNT_MISMATCH"}.get(t.tag, "MATCHED")
    if t.bank == "normal":
        row = bank_row(t.tid, batch, t.trace, t.rrn, t.auth, t.typ, t.when, t.amount, card, cur)
        bank_rows.append(dict(row=row, tag=tag, src=t))
    elif t.bank == "amount":
        row = bank_row(t.tid, batch, t.trace, t.rrn, t.auth, t.typ, t.when, money("100.00"),
                       card, cur)
        bank_rows.append(dict(row=row, tag="AMOUNT_MISMATCH", src=t))
    elif t.bank == "fee":
        row = bank_row(t.tid, batch, t.trace, t.rrn, t.auth, t.typ, t.when, t.amount, card, cur,
                       fee=money("1.00"))
        assert fee_for(t.amount, t.m["rate"]) != money("1.00")
        bank_rows.append(dict(row=row, tag="FEE_MISMATCH", src=t))
    elif t.bank == "dup":
        row = bank_row(t.tid, batch, t.trace, t.rrn, t.auth, t.typ, t.when, t.amount, card, cur)
        bank_rows.append(dict(row=row, tag="MATCHED", src=t))
        bank_rows.append(dict(row=list(row), tag="DUPLICATE_SETTLEMENT", src=t))
    elif t.bank == "tolerant":
        row = bank_row(t.tid, t.batch, unused_trace(t.tid), "", t.auth, t.typ,
                       t.when + timedelta(minutes=3), t.amount, mask(t.card), cur)
        bank_rows.append(dict(row=row, tag="MATCHED", src=t))
    else:
        raise AssertionError(t.bank)

# BANK_ONLY: settled, no terminal record anywhere.
bank_only_when = at(D23, "19:18:33")
bank_only_card = new_masked_card()
bank_rows.append(dict(
    row=bank_row(C1, TERMINALS[C1]["batch"][D23], unused_trace(C1), make_rrn(bank_only_when),
                 make_auth(), "SALE", bank_only_when, money("268.00"), bank_only_card, "CNY"),
    tag="BANK_ONLY", src=None, key="BANK_ONLY",
    why="settled by the bank; no terminal record has its rrn, trace or card"))
# The ambiguous bank row: no rrn, unrelated trace, 2 min from each of two candidates.
amb_when = at(D23, "10:02:00")
bank_rows.append(dict(
    row=bank_row(A2, TERMINALS[A2]["batch"][D23], unused_trace(A2), "", make_auth(), "SALE",
                 amb_when, S["amb1"].amount, mask(amb_card), "CNY"),
    tag="BANK_ONLY", src=None, key="AMBIGUOUS",
    why="ambiguous: 2 candidates (terminal sales at 10:00:00 and 10:04:00, both 2 min away)"))

rng.shuffle(bank_rows)

# --------------------------------------------------------------------------
# Reference files
# --------------------------------------------------------------------------

# Cancellation requests, in file order. Each: original txn (or None), overrides,
# expected decision, refund amount when REFUND, why.
NOT_FOUND_TRACE = unused_trace(A1)
NOT_FOUND_RRN = make_rrn(at(D23, "16:45:00"))

requests = []


def request(no, orig, decision, why, refund_amount="", reason="顾客要求退款", consent="yes",
            amount=None, name=None, by_trace_only=False, not_found=None):
    ref = "CR-20261124-%03d" % no
    if orig is not None:
        m = orig.m
        row = [ref, m["mid"], m["name"] if name is None else name, orig.tid, orig.trace,
               "" if by_trace_only else orig.rrn, fmt_time(orig.when),
               str(orig.amount if amount is None else money(amount)), refund_amount, reason,
               consent]
    else:
        row = [ref] + not_found + [reason, consent]
    refund_value = ""
    if decision == "REFUND":
        refund_value = refund_amount or str(orig.amount)
    requests.append(dict(no=no, ref=ref, row=row, orig=orig, decision=decision,
                         refund=refund_value, why=why))


request(1, S["c1"], "VOID",
        "11-24 sale at A, unsettled, full amount, as-of before the 23:00 cutoff of its day",
        reason="顾客点错单")
request(2, S["c2"], "REFUND", "11-23 sale already settled: too late to void", name="",
        reason="顾客退货")
request(3, S["c3"], "REFUND", "partial refund 30.00 of 88.00", refund_amount="30.00",
        reason="少做一杯，部分退款")
request(4, S["c3"], "REJECT",
        "over-refund: 30.00 refunded by request 3, plus 60.00 exceeds 88.00",
        refund_amount="60.00", reason="顾客追加退款, 共2杯")
request(5, S["c5"], "REFUND", "merchant B may not void (voids frozen): refund instead",
        reason="顾客退书")
request(6, S["c6"], "REJECT",
        "merchant C may not refund (refunds frozen) and the sale is settled", reason="顾客退货")
request(7, S["c7"], "REJECT", "details do not match: amount 100.00 ≠ 10.00", amount="100.00",
        reason="顾客退货")
request(8, S["c8"], "REJECT", "customer_consent is no", consent="no", reason="商户主动取消")
request(9, S["c9"], "REJECT", "card LOST", reason="顾客退货")
request(10, S["c10"], "REJECT", "card FROZEN", reason="顾客退书")
request(11, S["c11"], "REJECT", "card CANCELLED", reason="顾客退书")
request(12, None, "REJECT", "not found: neither the rrn nor the trace exists anywhere",
        reason="顾客退货",
        not_found=[MERCHANTS["A"]["mid"], MERCHANTS["A"]["name"], A1, NOT_FOUND_TRACE,
                   NOT_FOUND_RRN, "2026-11-23 16:45:00", "66.00", ""])
request(13, S["c13"], "REFUND",
        "a REFUND of 50.00 exists on the sale, so no void; 100.00 is what remains",
        refund_amount=str(S["c13"].amount - S["c13_refund"].amount), reason="顾客退货")
request(14, S["c14_sale"], "REJECT",
        "over-refund: 45.00 already refunded (REFUND record) plus the full 139.00 exceeds 139.00",
        reason="顾客退书")
request(15, S["c15"], "REJECT", "details do not match: merchant name differs",
        name="上海静安咖啡馆", reason="顾客退货")
request(16, S["voided"], "REJECT", "already voided on the terminal (and not settled)",
        reason="顾客退货")
request(17, S["c17"], "REFUND", "identified by terminal_id + trace_no, rrn empty; settled sale",
        by_trace_only=True, reason="顾客退货")

card_status = [
    (mask(S["c9"].card), "LOST"),
    (mask(S["c10"].card), "FROZEN"),
    (mask(S["c11"].card), "CANCELLED"),
    (mask(S["c2"].card), "NORMAL"),
    (mask(S["c3"].card), "NORMAL"),
    (mask(S["c5"].card), "NORMAL"),
    (mask(S["c13"].card), "NORMAL"),
    (S["c17"].card, "NORMAL"),  # a full PAN, also on the terminal row: masked on ingest
]
assert "*" not in S["c17"].card

# --------------------------------------------------------------------------
# Write the files
# --------------------------------------------------------------------------


def write_csv(name, header, rows):
    with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def terminal_file_rows(d):
    chosen = sorted((t for t in txns if t.file_day == d), key=lambda t: (t.tid, t.when))
    return chosen


for d in (D23, D24):
    write_csv("terminal-%s.csv" % d.isoformat(), TERMINAL_HEADER,
              [terminal_row(t) for t in terminal_file_rows(d)])
write_csv("bank-2026-11-24.csv", BANK_HEADER, [b["row"] for b in bank_rows])
write_csv("merchants.csv", MERCHANT_HEADER,
          [[m["mid"], m["name"], "yes" if m["void"] else "no", "yes" if m["refund"] else "no",
            str(m["rate"])] for m in MERCHANTS.values()])
write_csv("card-status.csv", CARD_STATUS_HEADER, card_status)
write_csv("cancellations.csv", CANCEL_HEADER, [r["row"] for r in requests])

# The same settlements as bank-2026-11-24.csv, in the layout of an acquirer's
# own export: GBK, a "#" preamble, Chinese column names in its own order, a
# merchant name column, Chinese transaction types, compact date-times, a
# leading backtick on numeric cells (so Excel keeps their zeros), a tab after
# card numbers, CRLF line endings and a totals trailer. Read through the
# profile in acquirer-gbk.toml it must reconcile exactly like the canonical file.
ACQUIRER_FILE = "bank-2026-11-24-acquirer-gbk.csv"
ACQUIRER_HEADER = ["清算日期", "商户号", "商户名称", "终端号", "交易时间", "交易类型", "交易批次号",
                   "凭证号", "参考号", "授权码", "卡号", "交易金额", "手续费", "结算金额", "币种"]
ACQUIRER_TYPES = OrderedDict([("消费", "SALE"), ("撤销", "VOID"), ("退货", "REFUND"),
                              ("预授权完成", "PREAUTH_COMPLETE")])
MERCHANT_NAME = {m["mid"]: m["name"] for m in MERCHANTS.values()}


def ticked(value):
    return "`" + value if value else ""


def acquirer_row(row):
    (settle, mid, tid, batch, trace, rrn, auth, typ, when, amount, fee, net, cur, card) = row
    code = next(k for k, v in ACQUIRER_TYPES.items() if v == typ)
    return [ticked(settle.replace("-", "")), ticked(mid), MERCHANT_NAME.get(mid, ""), tid,
            ticked(when.replace("-", "").replace(" ", "").replace(":", "")), code, ticked(batch),
            ticked(trace), ticked(rrn), auth, ticked(card) + "\t", amount, fee, net, cur]


acquirer_total = sum(Decimal(b["row"][9]) for b in bank_rows)
with open(os.path.join(OUT, ACQUIRER_FILE), "w", encoding="gbk", newline="") as f:
    f.write("# 某某银行 商户交易明细 (settlement detail of an example acquirer)\r\n")
    f.write("# 清算日期 2026-11-24  导出时间 2026-11-24 06:00:00\r\n")
    w = csv.writer(f, lineterminator="\r\n")
    w.writerow(ACQUIRER_HEADER)
    w.writerows(acquirer_row(b["row"]) for b in bank_rows)
    w.writerow(["合计", len(bank_rows), "%.2f" % acquirer_total])

ACQUIRER_CONFIG = """# An example config for an acquirer's own settlement export (%s):
# GBK, a "#" preamble, Chinese column names and transaction types, cells with a
# leading backtick or a trailing tab, and a totals trailer.
#
#   posrecon reconcile --config sample-data/acquirer-gbk.toml \\
#       --bank acquirer-gbk:sample-data/%s ...
#
# `posrecon profiles show acquirer-gbk --config sample-data/acquirer-gbk.toml`
# prints it back with every default spelled out.

[profiles.acquirer-gbk]
kind = "bank"
description = "example acquirer CSV: GBK, # preamble, Chinese headers, totals trailer"
encoding = "gbk"
delimiter = ","
skip_prefixes = ["#"]          # the preamble
strip_leading = "`'"           # `000123 keeps its zeros in Excel; the tab after card numbers is trimmed

[profiles.acquirer-gbk.fields]
settle_date = { column = "清算日期", format = "%%Y%%m%%d" }
merchant_id = "商户号"
terminal_id = "终端号"
batch_no = "交易批次号"
trace_no = "凭证号"
rrn = "参考号"
auth_code = "授权码"
txn_type = "交易类型"
txn_time = { column = "交易时间", format = "%%Y%%m%%d%%H%%M%%S" }
amount = "交易金额"
fee = "手续费"
net_amount = "结算金额"
currency = "币种"
card_no = "卡号"

[profiles.acquirer-gbk.txn_types]
%s

[profiles.acquirer-gbk.trailer]
prefix = "合计"                 # 合计,<records>,<total of 交易金额>
count_field = 2
amount_field = 3
""" % (ACQUIRER_FILE, ACQUIRER_FILE,
       "\n".join('"%s" = "%s"' % kv for kv in ACQUIRER_TYPES.items()))
with open(os.path.join(OUT, "acquirer-gbk.toml"), "w", encoding="utf-8", newline="") as f:
    f.write(ACQUIRER_CONFIG)

# --------------------------------------------------------------------------
# Expected results, from the bookkeeping above
# --------------------------------------------------------------------------


def tally(items):
    """items: (outcome, amount, currency) -> {outcome: [count, {cur: amount}]}"""
    out = OrderedDict((o, [0, OrderedDict()]) for o in OUTCOMES)
    for outcome, amount, cur in items:
        out[outcome][0] += 1
        out[outcome][1][cur] = out[outcome][1].get(cur, Decimal("0.00")) + amount
    return out


def iso_cur(code):
    return {"": "CNY", "156": "CNY", "840": "USD"}.get(code, code)


term_tally = tally((t.tag, t.amount, iso_cur(t.currency)) for t in txns)
bank_tally = tally((b["tag"], Decimal(b["row"][9]), iso_cur(b["row"][12])) for b in bank_rows)

decisions = OrderedDict([("void", 0), ("refund", 0), ("reject", 0), ("dispute", 0)])
for r in requests:
    decisions[r["decision"].lower()] += 1
extra_refunds = [t for t in txns if t.tag == "VOIDED_BUT_SETTLED"] + \
                [b["src"] for b in bank_rows if b["tag"] == "DUPLICATE_SETTLEMENT"]
decisions["refund"] += len(extra_refunds)
disputes = {
    "BANK_ONLY": bank_tally["BANK_ONLY"][0],
    "AMOUNT_MISMATCH": term_tally["AMOUNT_MISMATCH"][0],  # one case per mismatched pair
    "FEE_MISMATCH": bank_tally["FEE_MISMATCH"][0],
    "UNSETTLED": term_tally["UNSETTLED"][0],
}
decisions["dispute"] = sum(disputes.values())


def amount_text(amounts):
    if not amounts:
        return "0.00"
    return " + ".join("%s %s" % (v, c) for c, v in amounts.items())


def tbl(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def ref(t):
    return "%s / %s / %s" % (t.tid, t.trace, t.rrn)


bank_by_src = {}
for b in bank_rows:
    if b["src"] is not None:
        bank_by_src.setdefault(id(b["src"]), []).append(b)


def bank_outcome(t):
    rows = bank_by_src.get(id(t), [])
    if not rows:
        return "(no bank row)"
    # rows keep their shuffled order; show MATCHED first for the duplicate
    return " + ".join(sorted((b["tag"] for b in rows), key=OUTCOMES.index))


case_rows = []
for t in sorted((t for t in txns if t.key and t.key != "CR original"),
                key=lambda t: (t.file_day, t.when, t.tid)):
    note = t.why
    if t.bank == "tolerant":
        b = bank_by_src[id(t)][0]
        note += " (bank trace %s, bank time %s)" % (b["row"][4], b["row"][8][11:])
    if t.typ == "VOID":
        note += " (orig_trace_no %s)" % orig_trace_no(t)
    if t.typ == "REFUND":
        note += " (orig_rrn %s)" % t.orig.rrn
    if t.key == "FEE HALF-UP":
        note += ": %s x %s = %s -> fee %s" % (t.amount, t.m["rate"], (t.amount * t.m["rate"]).normalize(),
                                            fee_for(t.amount, t.m["rate"]))
    case_rows.append([t.key, "terminal-%s.csv" % t.file_day, ref(t), t.typ,
                      fmt_time(t.when), "%s %s" % (t.amount, iso_cur(t.currency)), t.tag,
                      bank_outcome(t), note])
for b in bank_rows:
    if b["src"] is None:
        r = b["row"]
        case_rows.append([b["key"], "bank-2026-11-24.csv",
                          "%s / %s / %s" % (r[2], r[4], r[5] or "(empty)"), r[7], r[8],
                          "%s CNY" % r[9], "(no terminal record)", b["tag"], b["why"]])

req_rows = []
for r in requests:
    o = r["orig"]
    if o is None:
        where = "nowhere (trace %s, rrn %s)" % (r["row"][4], r["row"][5])
    else:
        where = "terminal-%s.csv %s / %s / %s" % (o.file_day, o.tid, o.trace,
                                                 r["row"][5] or "(rrn empty)")
    decision = r["decision"] + (" %s" % r["refund"] if r["decision"] == "REFUND" else "")
    req_rows.append([r["ref"], where, decision, r["why"]])
for t in extra_refunds:
    src = "VOIDED_BUT_SETTLED" if t.tag == "VOIDED_BUT_SETTLED" else "DUPLICATE_SETTLEMENT"
    req_rows.append(["(%s)" % src, "terminal-%s.csv %s / %s / %s" % (t.file_day, t.tid, t.trace,
                                                                    t.rrn),
                     "REFUND %s" % t.amount,
                     "the cardholder was charged %s: refund"
                     % ("after a void" if src == "VOIDED_BUT_SETTLED" else "twice")])

n23 = sum(1 for t in txns if t.file_day == D23)
n24 = sum(1 for t in txns if t.file_day == D24)
full_pan_rows = sum(1 for t in txns if "*" not in t.card)

pan_lines = []
for pan in full_pans:
    where = []
    if any(t.card == pan and t.file_day == D23 for t in txns):
        where.append("terminal-2026-11-23.csv")
    if any(t.card == pan and t.file_day == D24 for t in txns):
        where.append("terminal-2026-11-24.csv")
    if any(b["row"][13] == pan for b in bank_rows):
        where.append("bank-2026-11-24.csv")
    if any(c == pan for c, _ in card_status):
        where.append("card-status.csv")
    pan_lines.append("- `%s` (masked `%s`): %s" % (pan, mask(pan), ", ".join(where)))

count_rows = []
for o in OUTCOMES:
    tc, ta = term_tally[o]
    bc, ba = bank_tally[o]
    count_rows.append([o, tc, amount_text(ta), bc, amount_text(ba)])


def totals(tal):
    tot = OrderedDict()
    for _, (_, amts) in tal.items():
        for c, v in amts.items():
            tot[c] = tot.get(c, Decimal("0.00")) + v
    return amount_text(tot)


count_rows.append(["total", sum(v[0] for v in term_tally.values()), totals(term_tally),
                   sum(v[0] for v in bank_tally.values()), totals(bank_tally)])


def machine_line(tal):
    return ", ".join("%s=%d" % (o, tal[o][0]) for o in OUTCOMES)


def machine_amounts(tal, cur):
    return ", ".join("%s=%s" % (o, tal[o][1].get(cur, Decimal("0.00"))) for o in OUTCOMES)


A = MERCHANTS["A"]
B = MERCHANTS["B"]
C = MERCHANTS["C"]
readme = []
readme.append("""# posrecon sample night: 2026-11-23 settled, 2026-11-24 captured

Synthetic data for one nightly run of `posrecon reconcile`. Every file here is written by
`generate.py` (Python 3, standard library only, fixed seed %d). Running it again reproduces
the files byte for byte; edit the generator, never the CSV files. The tables below are
computed by the generator from the outcome it assigns to every record it writes.

```
python3 sample-data/generate.py
```

## Files

| file | what it is |
|---|---|
| `terminal-2026-11-23.csv` | terminal batch file, business day 2026-11-23 (%d rows, one batch per terminal) |
| `terminal-2026-11-24.csv` | terminal batch file, business day 2026-11-24 (%d rows), including sales on 2026-11-23 at or after 23:00 |
| `bank-2026-11-24.csv` | acquiring bank settlement file, settle_date 2026-11-24, settling business day 2026-11-23 only (%d rows, shuffled) |
| `merchants.csv` | the three merchants, their void/refund permissions and contracted fee rate |
| `card-status.csv` | status of the cards named by cancellation requests (%d rows) |
| `cancellations.csv` | cancellation requests decided as of 2026-11-24 22:00:00 (%d rows) |
| `bank-2026-11-24-acquirer-gbk.csv` | the same settlements in an acquirer's own layout (GBK, see below) |
| `acquirer-gbk.toml` | the config file whose profile `acquirer-gbk` reads it |

All files but the acquirer example are UTF-8 without BOM, LF line endings, header row first,
comma separated, minimal quoting.

## How to run the night

```
posrecon reconcile \\
  --terminal sample-data/terminal-2026-11-23.csv \\
  --terminal sample-data/terminal-2026-11-24.csv \\
  --bank sample-data/bank-2026-11-24.csv \\
  --merchants sample-data/merchants.csv \\
  --card-status sample-data/card-status.csv \\
  --cancellations sample-data/cancellations.csv \\
  --as-of "%s" --out out/
```

Policy: the defaults. Cutoff 23:00, settlement_lag_days 1, time_tolerance 10 minutes,
duplicate_window 2 minutes, amount_tolerance 0.00, refund_window_days 180,
suspected_duplicates `flag`, fee rates from `merchants.csv`.

The bank file settles business day 2026-11-23 only. As of 2026-11-24 22:00:00 every record
of business day 2026-11-24 is therefore PENDING, and every 2026-11-23 record the bank did not
settle is UNSETTLED.

## The same bank file in an acquirer's own layout

`bank-2026-11-24-acquirer-gbk.csv` holds exactly the settlements of `bank-2026-11-24.csv` the way
an acquirer's export might: GBK-encoded, CRLF, a `#` preamble, Chinese column names in its own
order (商户号, 终端号, 交易时间, 交易类型, 交易批次号, 凭证号, 参考号, 卡号, 交易金额, 手续费,
结算金额 …) plus a merchant name column, Chinese transaction types (消费, 撤销, 退货, 预授权完成),
`YYYYMMDDhhmmss` times, a leading backtick on numeric cells, a tab after card numbers, and a
trailer `合计,%d,%s`. The profile `acquirer-gbk` in `acquirer-gbk.toml` reads it; the night then
reconciles exactly as with the canonical file:

```
posrecon reconcile --config sample-data/acquirer-gbk.toml \\
  --terminal sample-data/terminal-2026-11-23.csv \\
  --terminal sample-data/terminal-2026-11-24.csv \\
  --bank acquirer-gbk:sample-data/bank-2026-11-24-acquirer-gbk.csv \\
  --merchants sample-data/merchants.csv \\
  --card-status sample-data/card-status.csv \\
  --cancellations sample-data/cancellations.csv \\
  --as-of "%s" --out out/
```
""" % (SEED, n23, n24, len(bank_rows), len(card_status), len(requests), AS_OF,
       len(bank_rows), "%.2f" % acquirer_total, AS_OF))

readme.append("""## Merchants and terminals

| merchant | merchant_id | name | voids | refunds | fee_rate | terminals (batch 11-23 / 11-24) |
|---|---|---|---|---|---|---|
""" + "\n".join(
    "| %s | %s | %s | %s | %s | %s | %s |" % (
        k, m["mid"], m["name"], "yes" if m["void"] else "no", "yes" if m["refund"] else "no",
        m["rate"], ", ".join("%s (%s / %s)" % (tid, T["batch"][D23], T["batch"][D24])
                             for tid, T in TERMINALS.items() if T["m"] == k))
    for k, m in MERCHANTS.items()) + """

Trace numbers run on per terminal across both days, so a trace_no is unique per terminal
in both files. Terminal `33000202` leaves `currency` empty (CNY). One sale is in USD; the
bank writes its currency as `840`.
""")

readme.append("""## Conventions in the data

- Amounts are decimal yuan with exactly two decimals. Bank `fee` is
  round-half-up(amount x fee_rate, 2) and `net_amount = amount - fee`. REFUND rows in the bank
  file carry fee `0.00` and net = amount; a zero fee on a REFUND is not a FEE_MISMATCH.
- About 10%% of bank rows leave `batch_no` empty. Bank rows are in shuffled order.
- Cards are masked (`622848******1234`) except %d terminal rows that carry a full, Luhn-valid
  test PAN; a few bank rows and one card-status row carry full PANs too. No full PAN may appear
  in any output. Every full PAN used:

""" % full_pan_rows + "\n".join(pan_lines) + "\n")

readme.append("""## Seeded cases

Identifiers are `terminal_id / trace_no / rrn`. Every 2026-11-23 terminal record not listed
here is a plain SALE, settled as captured: MATCHED on both sides. Every 2026-11-24 record is
PENDING. Random sales use distinct cards, so no two of them share terminal, card and amount.

""" + tbl(["case", "file", "identity", "txn_type", "txn_time", "amount", "terminal outcome",
           "bank outcome", "why"], case_rows) + "\n")

readme.append("""## Cancellation requests (as of %s)

Requests are decided in file order, so request 4 sees the refund decided for request 3. The
last two rows are not requests: they are the refunds the tool must instruct on its own for
the VOIDED_BUT_SETTLED and DUPLICATE_SETTLEMENT transactions. Request 2 leaves
`merchant_name` empty (not checked); request 4 has a reason containing a comma (quoted).

""" % AS_OF + tbl(["request_ref", "original", "expected decision", "why"], req_rows) + "\n")

readme.append("""## Expected outcome counts for the night

Each record has exactly one outcome. A SUSPECTED_DUPLICATE terminal record counts as
SUSPECTED_DUPLICATE and its bank row as MATCHED; AMOUNT_MISMATCH counts on both sides (bank
amount on the bank side); FEE_MISMATCH counts MATCHED on the terminal side and FEE_MISMATCH on
the bank side; VOIDED_BUT_SETTLED counts the SALE and its bank row, its VOID row is
VOID_APPLIED; a DUPLICATE_SETTLEMENT pair is one MATCHED bank row and one
DUPLICATE_SETTLEMENT. Amounts are plain sums of the `amount` column (VOID and REFUND
amounts are not negated), per currency, never added across currencies; the totals equal
the input files' control totals.

""" + tbl(["outcome", "terminal records", "terminal amount", "bank records", "bank amount"],
          count_rows) + "\n")

readme.append("""## Expected actions

| action | count | from |
|---|---|---|
| void | %d | cancellation requests |
| refund | %d | %d cancellation requests + %d VOIDED_BUT_SETTLED + %d DUPLICATE_SETTLEMENT |
| reject | %d | cancellation requests |
| dispute | %d | %d BANK_ONLY + %d AMOUNT_MISMATCH (one case per mismatched pair) + %d FEE_MISMATCH + %d UNSETTLED |

SUSPECTED_DUPLICATE is only flagged (policy `flag`): no action.
""" % (decisions["void"], decisions["refund"],
       sum(1 for r in requests if r["decision"] == "REFUND"),
       sum(1 for t in extra_refunds if t.tag == "VOIDED_BUT_SETTLED"),
       sum(1 for t in extra_refunds if t.tag != "VOIDED_BUT_SETTLED"),
       decisions["reject"], decisions["dispute"], disputes["BANK_ONLY"],
       disputes["AMOUNT_MISMATCH"], disputes["FEE_MISMATCH"], disputes["UNSETTLED"]))

readme.append("""## Machine-readable expectations

```
expected-terminal-outcomes: %s
expected-bank-outcomes: %s
expected-terminal-amounts-CNY: %s
expected-terminal-amounts-USD: %s
expected-bank-amounts-CNY: %s
expected-bank-amounts-USD: %s
expected-actions: %s
expected-cancellations: %s
```
""" % (machine_line(term_tally), machine_line(bank_tally),
       machine_amounts(term_tally, "CNY"), machine_amounts(term_tally, "USD"),
       machine_amounts(bank_tally, "CNY"), machine_amounts(bank_tally, "USD"),
       ", ".join("%s=%d" % kv for kv in decisions.items()),
       ", ".join("%s=%s" % (r["ref"], r["decision"]) for r in requests)))

with open(os.path.join(OUT, "README.md"), "w", encoding="utf-8", newline="") as f:
    f.write("\n".join(readme))
