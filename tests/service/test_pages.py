"""The playground driven in headless Chromium: type a text, see every model's prediction.

Skips only when no Chromium binary is installed (CI installs Debian's).
Set VECCLF_PLAYGROUND_SCREENSHOT=path to keep the screenshot it takes.
"""

import base64
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request

import pytest
from werkzeug.serving import make_server

from tests.conftest import need_module, unavailable

pytestmark = pytest.mark.slow

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--window-size=1000,720", "--remote-debugging-port=0"]


class Page:
    """A minimal Chrome DevTools Protocol session on one page."""

    def __init__(self, ws_url: str):
        websocket = need_module("websocket")
        self.ws = websocket.create_connection(ws_url, timeout=20)
        self.ids = itertools.count(1)

    def send(self, method: str, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg.get("result", {})

    def eval(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")


@pytest.fixture
def live_url(app):
    """Serve the app on a free loopback port in a thread; yield its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(live_url, tmp_path):
    """Start headless Chromium on the playground; yield a DevTools page session."""
    if CHROMIUM is None:
        unavailable("chromium is not installed (apt-get install chromium)")
    profile = tmp_path / "profile"
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"{live_url}/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        target = next(t for t in targets if t["type"] == "page")
        session = Page(target["webSocketDebuggerUrl"])
        session.wait_for("document.readyState === 'complete' && !!document.getElementById('go')")
        yield session
        session.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_playground_shows_every_models_prediction(page, tmp_path):
    """Typing a text and pressing Classify renders a card per model with its label and score bars."""
    page.eval("document.getElementById('text').focus()")
    page.send("Input.insertText", text="A great and wonderful film!")
    assert page.eval("document.getElementById('text').value") == "A great and wonderful film!"
    page.eval("document.getElementById('go').click()")
    page.wait_for("document.querySelectorAll('#results .card .label').length === 2")
    cards = page.eval("""Array.from(document.querySelectorAll('#results .card')).map(c => ({
        model: c.dataset.model, label: c.querySelector('.label').textContent,
        version: c.querySelector('.version').textContent, scores: c.querySelectorAll('.row').length}))""")
    assert sorted(c["model"] for c in cards) == ["mood", "sentiment"]
    assert {c["label"] for c in cards} == {"pos"}
    assert all(c["scores"] == 2 and c["version"] == "version v1" for c in cards)
    png = base64.b64decode(page.send("Page.captureScreenshot", format="png")["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("VECCLF_PLAYGROUND_SCREENSHOT")
    (tmp_path / "playground.png").write_bytes(png)
    if keep:
        with open(keep, "wb") as fh:
            fh.write(png)


@pytest.fixture
def tagged(store, tmp_path):
    """Add a multi-label model "tags" to the store (positive reviews are tagged pos|nice); request it before page."""
    from tests.conftest import make_corpus, write_csv
    from vecclf.training.train import train

    texts, labels = make_corpus(120, seed=3)
    rows = [{"text": t, "label": "pos|nice" if l == "pos" else "neg"} for t, l in zip(texts, labels)]
    data = write_csv(tmp_path / "tags.csv", rows)
    train(store=str(store), name="tags", data=str(data), vectors="tiny", features="mean", C=10.0, test_size=0.25)


def test_multilabel_card_shows_every_label_over_the_threshold(tagged, page):
    """A multi-label model's card names every label the API put in `labels`, and each card shows its accuracy."""
    page.eval("document.getElementById('text').value = 'A great and wonderful film!'")
    page.eval("document.getElementById('go').click()")
    page.wait_for("document.querySelectorAll('#results .card .label').length === 3")
    card = page.eval("""(() => { const c = document.querySelector('#results .card[data-model="tags"]');
        return {label: c.querySelector('.label').textContent, accuracy: c.querySelector('.accuracy').textContent,
                over: Array.from(c.querySelectorAll('.row.over > span:first-child')).map(s => s.textContent)}; })()""")
    assert card["label"] == "nice · pos" or card["label"] == "pos · nice"
    assert sorted(card["over"]) == ["nice", "pos"]
    assert card["accuracy"].startswith("accuracy ") and "(held-out, 30 texts)" in card["accuracy"]


def test_example_buttons_classify_their_text(page):
    """Each example button fills the text box and classifies it."""
    page.eval("document.querySelector('#examples button').click()")
    page.wait_for("document.querySelectorAll('#results .card .label').length === 2")
    assert page.eval("document.getElementById('text').value") == page.eval(
        "document.querySelector('#examples button').textContent")


def test_docs_page_renders_the_markdown(page, live_url):
    """/docs shows code spans as <code>, with no Markdown backticks left in the text."""
    page.send("Page.navigate", url=f"{live_url}/docs")
    page.wait_for("document.body.dataset.done === '1'")
    assert page.eval("document.querySelectorAll('#description code').length") >= 2
    assert page.eval("document.querySelectorAll('#ops details').length") >= 8
    assert page.eval("document.querySelector('main').innerText.includes('`')") is False
    assert page.eval("document.querySelectorAll('#ops code').length") > 20


def test_playground_shows_an_error_message(page):
    """An over-long text shows the API's error message in the card, not a blank page."""
    page.eval("document.getElementById('text').value = 'x'.repeat(3000)")
    page.eval("document.getElementById('go').click()")
    page.wait_for("document.querySelectorAll('#results .error').length === 2")
    assert "limit is 2000" in page.eval("document.querySelector('#results .error').textContent")


def test_correct_this_sends_feedback(page, store):
    """A card's "correct this" control posts the chosen label, tied to the prediction's request id."""
    from vecclf.training.database import database_url
    from vecclf.training.feedback import FeedbackStore

    page.wait_for("document.body.dataset.ready === '1'")
    page.eval("document.getElementById('text').value = 'A great and wonderful film!'")
    page.eval("document.getElementById('go').click()")
    page.wait_for("document.querySelectorAll('#results .card .fix').length === 2")
    card = "document.querySelector('#results .card[data-model=\"sentiment\"]')"
    assert page.eval(f"{card}.querySelector('.pick').value") == "pos"  # the prediction is preselected
    page.eval(f"{card}.querySelector('.pick').value = 'neg'")
    page.eval(f"{card}.querySelector('.fix .send').click()")
    status = page.wait_for(f"(t => t.startsWith('thanks') && t)({card}.querySelector('.fix .sent').textContent)")
    (row,) = FeedbackStore(database_url(store, None)).rows("sentiment")
    assert status == f"thanks: stored as #{row['id']}"
    assert (row["text"], row["label"], row["predicted"], row["agrees"]) == ("A great and wonderful film!", "neg", "pos", False)
    assert row["prediction_id"]  # the X-Request-ID of the prediction shown


def test_review_page_labels_the_queue(page, live_url, store):
    """/review lists the most uncertain texts first; saving a label stores feedback and closes the item."""
    from vecclf.training.database import database_url
    from vecclf.training.feedback import FeedbackStore

    fs = FeedbackStore(database_url(store, None))
    fs.enqueue([{"model": "sentiment", "version": "v1", "text": t, "predicted": "pos", "confidence": c,
                 "request_id": f"r-{c}"} for t, c in [("fairly sure", 0.8), ("no idea", 0.51)]])
    page.send("Page.navigate", url=f"{live_url}/review?model=sentiment")
    page.wait_for("document.readyState === 'complete' && !!document.body.dataset.loaded")
    assert page.eval("Array.from(document.querySelectorAll('.item .text')).map(t => t.textContent)") == \
        ["no idea", "fairly sure"]
    first = "document.querySelector('.item')"
    page.eval(f"{first}.querySelector('.pick').value = 'neg'")
    page.eval(f"{first}.querySelector('.send').click()")
    page.wait_for(f"{first}.classList.contains('done')")
    (row,) = fs.rows("sentiment")
    assert (row["text"], row["label"], row["prediction_id"]) == ("no idea", "neg", "r-0.51")
    assert [i["text"] for i in fs.queue("sentiment")] == ["fairly sure"]
