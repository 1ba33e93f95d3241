"""A model version's report: metrics, charts, the comparison with the version before it, its mistakes.

Written into the bundle as ``report/``:

- ``index.html``: one self-contained page (charts embedded as data URIs, no
  outside CSS or script), readable from a mail attachment or a file share;
- ``confusion_matrix.png`` and ``per_class_f1.png`` (matplotlib, no display);
- ``report.json``: the same facts for scripts.

``vecclf retrain`` writes it with the shared holdout: both versions' scores,
the gate's decision and the held-out rows the new version gets wrong.
``vecclf models report`` writes one for older versions from their manifest
(metrics and charts; the comparison and mistakes need the retrain's holdout).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from vecclf.training.errors import StorageError

REPORT_DIR = "report"
INDEX = "index.html"
MAX_ERRORS = 50


def report_index(bundle: Path) -> Path | None:
    """Return the report page of a bundle, or None if it has none."""
    index = Path(bundle) / REPORT_DIR / INDEX
    return index if index.is_file() else None


def classification_report(per_class: dict, m: dict) -> list[dict]:
    """Return the classification report rows: one per class, then the macro average."""
    rows = [{"label": c, **{k: v[k] for k in ("precision", "recall", "f1", "support")}} for c, v in per_class.items()]
    if rows:
        n = len(rows)
        rows.append({"label": "macro avg", "precision": sum(r["precision"] for r in rows) / n,
                     "recall": sum(r["recall"] for r in rows) / n, "f1": m.get("macro_f1", 0.0),
                     "support": sum(r["support"] for r in rows)})
    return rows


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def confusion_png(confusion: dict, title: str) -> bytes:
    """Draw a confusion matrix (rows: true label, columns: predicted) with its counts."""
    labels, matrix = confusion["labels"], confusion["matrix"]
    size = min(4 + 0.45 * len(labels), 16)
    fig = _figure(size, size * 0.85)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 4 else 0, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(labels) <= 25:
        cells = [c for row in matrix for c in row]
        middle = (min(cells, default=0) + max(cells, default=0)) / 2
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                ax.text(j, i, str(count), ha="center", va="center", color="white" if count > middle else "black")
    return _png(fig)


def f1_png(per_class: dict, current: dict | None, version: str) -> bytes:
    """Draw each class's F1 as bars, the previous version's beside the new one's when known."""
    labels = list(per_class)
    fig = _figure(7, min(1.5 + 0.35 * len(labels) * (2 if current else 1), 20))
    ax = fig.add_subplot()
    ys = range(len(labels))
    height = 0.4 if current else 0.7
    ax.barh([y - (height / 2 if current else 0) for y in ys], [per_class[c]["f1"] for c in labels], height,
            label=version, color="#2b6cb0")
    if current:
        before = current["metrics"].get("per_class", {})
        ax.barh([y + height / 2 for y in ys], [before.get(c, {}).get("f1", 0.0) for c in labels], height,
                label=f"{current['version']} (previous)", color="#a0aec0")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_yticks(list(ys), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 on the holdout")
    ax.set_title("F1 per class")
    return _png(fig)


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _label(value) -> str:
    return "|".join(value) if isinstance(value, (tuple, list)) else str(value)


def render_html(data: dict, images: dict[str, bytes]) -> str:
    """Return the self-contained report page for ``data`` (see :func:`write_report`)."""
    m, current = data["metrics"], data.get("current")
    parts = [f"<h1>{html.escape(data['model'])} {html.escape(data['version'])}</h1>",
             f"<p>created {html.escape(str(data.get('created_at') or ''))}"
             f" &middot; evaluated on {m.get('n', 0)} held-out rows ({html.escape(data.get('evaluation', ''))})</p>"]
    if data.get("decision"):
        css = "promoted" if data["decision"] == "promoted" else "kept"
        parts.append(f"<p class='{css}'><b>{html.escape(data['reason'])}</b></p>")
    keys = [k for k in ("accuracy", "macro_f1", "micro_f1", "hamming_loss") if k in m]
    if current and "metrics" in current:
        rows = [[k, m[k], current["metrics"].get(k, float("nan")), m[k] - current["metrics"].get(k, float("nan"))]
                for k in keys]
        parts += ["<h2>Metrics, compared with the previous version on the same holdout</h2>",
                  _table(["metric", data["version"], f"{current['version']} (previous)", "change"], rows)]
    else:
        note = (f"the previous version {current['version']} could not be scored: {current['error']}" if current
                else data.get("comparison_note", "there was no previous version to compare with"))
        parts += ["<h2>Metrics</h2>", _table(["metric", data["version"]], [[k, m[k]] for k in keys]),
                  f"<p class='note'>No comparison: {html.escape(note)}.</p>"]
    parts += ["<h2>Classification report</h2>",
              _table(["label", "precision", "recall", "f1", "support"],
                     [[r["label"], r["precision"], r["recall"], r["f1"], r["support"]]
                      for r in classification_report(m.get("per_class", {}), m)])]
    for name, title in (("confusion_matrix.png", "Confusion matrix"), ("per_class_f1.png", "F1 per class")):
        if name in images:
            uri = "data:image/png;base64," + base64.b64encode(images[name]).decode("ascii")
            parts.append(f"<h2>{title}</h2><img alt='{title}' src='{uri}'>")
    if "confusion_matrix.png" not in images:
        parts.append("<p class='note'>No confusion matrix: a multi-label model has none.</p>")
    if data.get("sources"):
        parts += ["<h2>Data</h2>", _table(["source", "rows"], [[k, v] for k, v in data["sources"].items()])]
    errors = data.get("errors")
    if errors is None:
        parts.append(f"<h2>Examples it gets wrong</h2><p class='note'>"
                     f"{html.escape(data.get('errors_note', 'not recorded for this version'))}.</p>")
    else:
        compared = bool(errors) and "previous" in errors[0]
        parts.append(f"<h2>Examples it gets wrong ({len(errors)} of {data.get('n_errors', len(errors))}, "
                     "most confident first)</h2>" if errors else
                     "<h2>Examples it gets wrong</h2><p class='note'>None: every held-out row is right.</p>")
        if errors:
            parts.append(_table(["text", "true", "predicted", "confidence"] + (["previous predicted"] * compared),
                                [[e["text"], _label(e["true"]), _label(e["predicted"]), e["confidence"]]
                                 + ([_label(e["previous"])] if compared else []) for e in errors]))
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a202c}"
             "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #cbd5e0;padding:.25rem .5rem;"
             "text-align:left;vertical-align:top}th{background:#edf2f7}img{max-width:100%}"
             ".promoted{color:#22543d}.kept{color:#742a2a}.note{color:#4a5568}")
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(data['model'])} {html.escape(data['version'])}: report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_report(bundle: Path, data: dict) -> Path:
    """Write ``bundle/report/`` for ``data``; return the page's path.

    ``data`` holds ``model``, ``version``, ``created_at``, ``evaluation``, ``metrics`` (the new version's
    on the holdout), ``current`` (``{"version", "metrics"}`` of the version before it, or with ``error``, or
    None), optionally ``decision``/``reason``, ``sources`` (rows by source) and ``errors`` (wrong examples).
    """
    folder = Path(bundle) / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=False)
    m = data["metrics"]
    images: dict[str, bytes] = {}
    if "confusion_matrix" in m:
        images["confusion_matrix.png"] = confusion_png(m["confusion_matrix"], f"{data['model']} {data['version']}")
    if m.get("per_class"):
        current = data.get("current")
        images["per_class_f1.png"] = f1_png(m["per_class"], current if current and "metrics" in current else None,
                                            data["version"])
    for name, png in images.items():
        (folder / name).write_bytes(png)
    facts = {**data, "classification_report": classification_report(m.get("per_class", {}), m),
             "images": sorted(images)}
    (folder / "report.json").write_text(json.dumps(facts, indent=2, ensure_ascii=False, default=str) + "\n", "utf-8")
    index = folder / INDEX
    index.write_text(render_html(data, images), "utf-8")
    return index


def wrong_examples(texts, truth, preds, confidence, previous=None, limit: int = MAX_ERRORS) -> tuple[list, int]:
    """Return up to ``limit`` rows the model got wrong (most confident first) and how many there were."""
    def same(t, p):
        return set(t) == set(p) if isinstance(t, tuple) and isinstance(p, tuple) else t == p

    wrong = [i for i, (t, p) in enumerate(zip(truth, preds)) if not same(t, p)]
    wrong.sort(key=lambda i: -confidence[i])
    rows = [{"text": texts[i], "true": truth[i], "predicted": preds[i], "confidence": round(confidence[i], 4),
             **({"previous": previous[i]} if previous is not None else {})} for i in wrong[:limit]]
    return rows, len(wrong)


def open_in_browser(page: Path) -> bool:
    """Open a report page in the user's web browser; return whether one was found."""
    import webbrowser

    return webbrowser.open(Path(page).resolve().as_uri())


def ensure_report(bundle: Path, manifest: dict) -> tuple[Path, bool]:
    """Return ``(page, written)``: the bundle's report, written first from its manifest if it has none."""
    bundle = Path(bundle)
    existing = report_index(bundle)
    if existing is not None:
        return existing, False
    data = {"model": manifest.get("model", bundle.parent.name), "version": manifest.get("version", bundle.name),
            "created_at": manifest.get("created_at"), "evaluation": manifest.get("evaluation", ""),
            "metrics": manifest.get("metrics") or {}, "current": None,
            "comparison_note": "this version was made by `vecclf train`; `vecclf retrain` records the comparison",
            "errors": None,
            "errors_note": "not recorded: this version was made by `vecclf train`, which keeps no held-out rows"}
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{REPORT_DIR}.", dir=bundle))
    except OSError as exc:
        raise StorageError(f"{bundle}: cannot write the report ({exc})") from None
    try:
        write_report(tmp, data)
        os.rename(tmp / REPORT_DIR, bundle / REPORT_DIR)
    except OSError as exc:
        if report_index(bundle) is None:  # else another process wrote it meanwhile
            raise StorageError(f"{bundle}: cannot write the report ({exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return bundle / REPORT_DIR / INDEX, True
