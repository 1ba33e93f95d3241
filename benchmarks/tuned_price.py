"""Does a tuned encoder cost what MiniLM costs per text? In-process, side by side, one text at a time.

The tuned accuracy mode serves a fine-tuned copy of all-MiniLM-L6-v2: the
same network with other weights (and ``--max-length``'s limit, 128 tokens
by default, instead of MiniLM's 256). This script times the encoder's
forward pass on real SST-2 test sentences, one text per call as a
single-text request makes it (no memo, one torch thread, as a serving
worker runs it), alternating between MiniLM and the tuned encoder in
rounds, and prints each one's median microseconds a text and the median of
the per-round ratios. The encoder pass is what the accuracy modes add to
the fast path (benchmarks/serve.py --encoder: the default's 0.95 ms of the
accuracy mode's 22.6 ms of server CPU a single-text request, so about 96 %
of it is the encoder), so the ratio is close to the ratio of their serving
prices.

    python benchmarks/tuned_price.py --store STORE --tuned NAME   # NAME: an encoder in STORE/encoders
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import TASKS, find_data_dir, read_sentences  # noqa: E402


def per_text(encoder, texts: list[str]) -> float:
    """Return the mean seconds a text of encoding ``texts`` one at a time."""
    started = time.perf_counter()
    for text in texts:
        encoder.encode([text], memo=False)
    return (time.perf_counter() - started) / len(texts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="the model store holding the tuned encoder")
    parser.add_argument("--tuned", required=True, help="the tuned encoder's name")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--texts", type=int, default=200, help="texts per encoder per round")
    args = parser.parse_args(argv)

    from vecclf.training.encoder import load

    task = TASKS["SST-2"]
    texts, _ = read_sentences(find_data_dir() / task.test, task.encoding)
    texts = texts[: args.texts]
    base, tuned = load("minilm"), load(args.tuned, store=args.store)
    per_text(base, texts[:20]), per_text(tuned, texts[:20])  # warm both
    rows = []
    for k in range(args.rounds):
        pair = (base, tuned) if k % 2 == 0 else (tuned, base)
        times = {id(e): per_text(e, texts) for e in pair}
        rows.append((times[id(base)], times[id(tuned)]))
    b = statistics.median(r[0] for r in rows) * 1e6
    t = statistics.median(r[1] for r in rows) * 1e6
    ratio = statistics.median(r[1] / r[0] for r in rows)
    print(f"{args.rounds} alternating rounds of {len(texts)} SST-2 test sentences, one a call, one torch thread")
    print(f"minilm: {b:,.0f} µs a text; {args.tuned}: {t:,.0f} µs a text; tuned / minilm {ratio:.2f}× "
          "(median of rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
