"""Entropy-layer benchmark: lvc (constriction ANS) vs CompressAI's rANS, in one run.

Cases (1,000,000 symbols each by default):
  residual     Gaussian residuals, 64-entry scale table (CompressAI's), table index per symbol
  factorized   per-channel tables (192 channels, Laplace-ish histograms), index = channel
  categorical  a 256-way probability vector per symbol (lvc only; 100,000 symbols)

Both coders get the *same* integer tables (lvc's pmfs exported as CompressAI CDFs),
so "ideal" is the information content under those tables. Throughput is the median of
``--repeat`` runs after one warm-up. CompressAI's time includes the ``tolist()``
conversions its API requires (as in ``GaussianConditional.compress``); the column
"core" excludes them.

    python benchmarks/entropy_bench.py [--n 1000000] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from lvc.entropy import FrequencyTables, ScaleTable, decode_categorical, decode_indexed, \
    encode_categorical, encode_indexed


def median_time(fn, repeat):
    fn()  # warm-up (model construction, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _compressai_tables(tables: FrequencyTables):
    cdfs, lengths = [], []
    for p in tables.pmfs:
        cdfs.append([0] + np.cumsum(p).astype(int).tolist())
        lengths.append(len(p) + 1)
    return cdfs, lengths, [int(o) for o in tables.offsets]


def bench_tables(name, symbols, indexes, tables: FrequencyTables, repeat):
    from compressai.ans import BufferedRansEncoder, RansDecoder

    n = symbols.size
    ideal = tables.information_bits(symbols, indexes)
    enc_t, data = median_time(lambda: encode_indexed(symbols, indexes, tables), repeat)
    dec_t, out = median_time(lambda: decode_indexed(data, indexes, tables), repeat)
    assert np.array_equal(out, symbols), "lvc round trip failed"

    cdfs, lengths, offsets = _compressai_tables(tables)
    sym_l, idx_l = symbols.tolist(), indexes.astype(np.int32).tolist()

    def ca_encode(convert=True):
        s, i = (symbols.tolist(), indexes.astype(np.int32).tolist()) if convert else (sym_l, idx_l)
        enc = BufferedRansEncoder()
        enc.encode_with_indexes(s, i, cdfs, lengths, offsets)
        return enc.flush()

    def ca_decode(convert=True):
        i = indexes.astype(np.int32).tolist() if convert else idx_l
        dec = RansDecoder()
        dec.set_stream(ca_data)
        res = dec.decode_stream(i, cdfs, lengths, offsets)
        return np.asarray(res, np.int32) if convert else res

    ca_enc_t, ca_data = median_time(ca_encode, repeat)
    ca_dec_t, ca_out = median_time(ca_decode, repeat)
    ca_enc_core, _ = median_time(lambda: ca_encode(False), repeat)
    ca_dec_core, _ = median_time(lambda: ca_decode(False), repeat)
    assert np.array_equal(ca_out, symbols), "compressai round trip failed"
    return {
        "case": name, "symbols": n, "ideal_bits": ideal,
        "lvc": {"bits": len(data) * 8, "enc_msym_s": n / enc_t / 1e6, "dec_msym_s": n / dec_t / 1e6},
        "compressai": {"bits": len(ca_data) * 8, "enc_msym_s": n / ca_enc_t / 1e6,
                       "dec_msym_s": n / ca_dec_t / 1e6, "enc_core_msym_s": n / ca_enc_core / 1e6,
                       "dec_core_msym_s": n / ca_dec_core / 1e6},
    }


def bench_categorical(n, repeat, rng):
    logits = rng.normal(0, 2, (n, 256))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    symbols = np.array([rng.choice(256, p=p) for p in probs[: min(n, 2000)]] +
                       list((probs[2000:].cumsum(1) > rng.random((max(n - 2000, 0), 1))).argmax(1)),
                       dtype=np.int32)
    ideal = float(-np.log2(probs[np.arange(n), symbols]).sum())
    enc_t, data = median_time(lambda: encode_categorical(symbols, probs), repeat)
    dec_t, out = median_time(lambda: decode_categorical(data, probs), repeat)
    assert np.array_equal(out, symbols)
    return {"case": "categorical", "symbols": n, "ideal_bits": ideal,
            "lvc": {"bits": len(data) * 8, "enc_msym_s": n / enc_t / 1e6,
                    "dec_msym_s": n / dec_t / 1e6}}


def measure(n: int = 1_000_000, repeat: int = 5) -> list:
    """The three cases' rows (seeded data), as ``--json`` prints them."""
    rng = np.random.default_rng(0)
    table = ScaleTable("gaussian")
    sigma = np.exp(rng.uniform(np.log(0.11), np.log(40.0), n))
    idx = table.indexes(sigma)
    res = np.round(rng.normal(0, sigma)).astype(np.int32)

    channels = 192
    ch = np.repeat(np.arange(channels), -(-n // channels))[:n].astype(np.int32)
    b = np.exp(rng.uniform(np.log(0.05), np.log(8.0), channels))
    fac = np.round(rng.laplace(0, b[ch])).astype(np.int32)
    counts, offsets = [], []
    for c in range(channels):  # histograms from a separate "training" draw
        train = np.round(rng.laplace(0, b[c], 20000)).astype(np.int64)
        lo, hi = int(train.min()), int(train.max())
        counts.append(np.bincount(train - lo, minlength=hi - lo + 1))
        offsets.append(lo)
    ftables = FrequencyTables.from_histograms(counts, offsets)

    return [bench_tables("residual", res, idx, table.tables, repeat),
            bench_tables("factorized", fac, ch, ftables, repeat),
            bench_categorical(min(n, 100_000), repeat, rng)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = measure(args.n, args.repeat)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        return rows
    _print(rows)
    return rows


def _print(rows):
    hdr = f"{'case':<12}{'coder':<12}{'enc Msym/s':>12}{'dec Msym/s':>12}{'bits':>12}{'vs ideal':>10}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        for coder in ("lvc", "compressai"):
            if coder not in r:
                continue
            c = r[coder]
            over = 100 * (c["bits"] / r["ideal_bits"] - 1)
            core = (f"  (core {c['enc_core_msym_s']:.1f} / {c['dec_core_msym_s']:.1f})"
                    if "enc_core_msym_s" in c else "")
            print(f"{r['case']:<12}{coder:<12}{c['enc_msym_s']:>12.1f}{c['dec_msym_s']:>12.1f}"
                  f"{c['bits']:>12d}{over:>+9.3f}%{core}")
        if "compressai" in r:
            l, ca = r["lvc"], r["compressai"]
            print(f"{'':<12}{'lvc/ca':<12}{l['enc_msym_s'] / ca['enc_msym_s']:>11.2f}x"
                  f"{l['dec_msym_s'] / ca['dec_msym_s']:>11.2f}x")
    from targets import TARGETS, describe  # benchmarks/targets.py: the one table of targets

    print("targets: " + "; ".join(f"{t.name.split('.', 1)[1]} {describe(t)}"
                                  for t in TARGETS if t.group == "entropy"))


if __name__ == "__main__":
    main()
