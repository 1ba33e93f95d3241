"""Model registry: version numbering, the current pointer, promote and rollback."""

import os

import pytest

from vecclf.training import registry as registry_mod
from vecclf.training.errors import NotFoundError, VecclfError
from vecclf.training.registry import ModelRegistry


@pytest.fixture
def three_versions(trained):
    """Save v2 and v3 of 'demo' next to the trained v1 (not promoted); return the registry."""
    store, _ = trained
    reg = ModelRegistry(store)
    model, manifest = reg.load("demo")
    for _ in range(2):
        reg.save("demo", model, {k: v for k, v in manifest.items() if k != "version"})
    return reg


def test_first_version_becomes_current(trained):
    """A model's first version is current without promotion."""
    store, report = trained
    reg = ModelRegistry(store)
    assert report["version"] == "v1" and report["current"] is True
    assert reg.current("demo") == "v1" and reg.models() == ["demo"]


def test_later_versions_need_promotion(three_versions):
    """Later versions are stored but not served until promoted."""
    reg = three_versions
    assert reg.versions("demo") == ["v1", "v2", "v3"]
    assert reg.current("demo") == "v1"
    assert reg.resolve("demo") == "v1" and reg.manifest("demo")["version"] == "v1"


def test_save_with_promote_becomes_current(three_versions):
    """save(promote=True) makes the new version current."""
    reg = three_versions
    model, manifest = reg.load("demo", "v2")
    version, current = reg.save("demo", model, {}, promote=True)
    assert (version, current) == ("v4", True) and reg.current("demo") == "v4"


def test_promote_then_rollback_walks_back_the_history(three_versions):
    """Rollback returns to the previously promoted version, one step at a time, until nothing is left."""
    reg = three_versions
    assert reg.promote("demo", "v2")["previous"] == "v1"
    reg.promote("demo", "v3")
    result = reg.rollback("demo")
    assert (result["current"], result["previous"]) == ("v2", "v3")
    assert reg.current("demo") == "v2"
    reg.rollback("demo")
    assert reg.current("demo") == "v1"
    with pytest.raises(VecclfError, match="nothing to roll back to"):
        reg.rollback("demo")
    assert reg.current("demo") == "v1"


def test_rollback_skips_versions_that_disappeared(three_versions):
    """A promoted version whose folder is no longer complete is skipped by rollback."""
    reg = three_versions
    reg.promote("demo", "v2")
    reg.promote("demo", "v3")
    (reg.model_dir("demo") / "v2" / "COMPLETE").unlink()
    assert reg.rollback("demo")["current"] == "v1"


def test_promote_unknown_version_is_refused(three_versions):
    """Promoting a version that does not exist names the versions that do, and changes nothing."""
    reg = three_versions
    with pytest.raises(NotFoundError, match=r"no version 'v9' \(versions: v1, v2, v3\)"):
        reg.promote("demo", "v9")
    assert reg.current("demo") == "v1"


def test_current_pointer_is_replaced_atomically(three_versions, monkeypatch):
    """The current file is written to a temp file and renamed; a failed write keeps the old pointer and no temp file."""
    reg = three_versions
    folder = reg.model_dir("demo")
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(registry_mod.os, "replace", spy)
    reg.promote("demo", "v2")
    assert ("current" in [d for _, d in replaced]) and all(s.startswith(".") for s, _ in replaced)
    assert (folder / "current").read_text() == "v2\n"

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(registry_mod.os, "replace", crash)
    with pytest.raises(OSError):
        reg.promote("demo", "v3")
    assert reg.current("demo") == "v2"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", "vectors", "", "x" * 101])
def test_invalid_model_names_are_refused(name, store_dir):
    """Model names that are not one safe path component (or are reserved) are refused."""
    with pytest.raises(NotFoundError):
        ModelRegistry(store_dir).model_dir(name)


@pytest.mark.parametrize("version", ["../v1", "v1/../../x", ".."])
def test_invalid_versions_are_refused(version, trained):
    """Version strings that could escape the model folder are refused."""
    store, _ = trained
    with pytest.raises(NotFoundError):
        ModelRegistry(store).resolve("demo", version)


def test_unknown_model_lists_known_ones(trained):
    """Asking for a model that does not exist names the models that do."""
    store, _ = trained
    with pytest.raises(NotFoundError, match=r"unknown model 'nope' \(models: demo\)"):
        ModelRegistry(store).resolve("nope")


def test_empty_store_lists_nothing(tmp_path):
    """A store folder that does not exist yet has no models."""
    assert ModelRegistry(tmp_path / "absent").models() == []


PROMOTE_SCRIPT = """
import json, os, sys, time
from vecclf.training.registry import ModelRegistry
store, version, go = sys.argv[1:]
while not os.path.exists(go):
    time.sleep(0.001)
print(json.dumps(ModelRegistry(store).promote("demo", version)))
"""


def test_parallel_promotions_are_all_recorded_in_order(three_versions):
    """8 promotions at once (separate processes, alternating v2/v3): 8 entries, each 'previous' the one before."""
    import json
    import subprocess
    import sys

    reg = three_versions
    go = reg.root / "go"
    procs = [subprocess.Popen([sys.executable, "-c", PROMOTE_SCRIPT, str(reg.root), f"v{2 + i % 2}", str(go)],
                              stdout=subprocess.PIPE, text=True) for i in range(8)]
    go.write_text("")
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    events = reg.history("demo")
    promotions = [e for e in events if e["action"] == "promote"][-8:]
    assert len(promotions) == 8 and len(events) == 9  # the first version's own promotion, then the 8
    chain = ["v1"] + [e["version"] for e in promotions]
    assert [e["previous"] for e in promotions] == chain[:-1]  # each saw the one recorded before it
    assert sorted((o["current"], o["previous"]) for o in outputs) == sorted((e["version"], e["previous"]) for e in promotions)
    assert reg.current("demo") == chain[-1]


def test_rollback_follows_the_recorded_history(three_versions):
    """Rollback goes back through what was really promoted, and is recorded too."""
    reg = three_versions
    for version in ("v2", "v3", "v2", "v3"):
        reg.promote("demo", version)
    assert [reg.rollback("demo")["current"] for _ in range(4)] == ["v2", "v3", "v2", "v1"]
    actions = [(e["action"], e["version"]) for e in reg.history("demo")]
    assert actions[-4:] == [("rollback", "v2"), ("rollback", "v3"), ("rollback", "v2"), ("rollback", "v1")]


def test_history_of_an_older_store_is_read(three_versions):
    """A history.json written before events were recorded still drives rollback."""
    reg = three_versions
    (reg.model_dir("demo") / "history.json").write_text('{"promoted": ["v1", "v3", "v2"]}\n', "utf-8")
    (reg.model_dir("demo") / "current").write_text("v2\n", "utf-8")
    assert reg.rollback("demo")["current"] == "v3"
    assert reg.rollback("demo")["current"] == "v1"


def test_prune_keeps_the_newest_and_never_current_or_previous(three_versions):
    """Retention keeps the newest N plus the current version and the one rollback would restore."""
    reg = three_versions
    model, manifest = reg.load("demo")
    for _ in range(3):
        reg.save("demo", model, {k: v for k, v in manifest.items() if k != "version"})
    reg.promote("demo", "v2")  # history v1 -> v2: v2 current, v1 the one before it
    assert reg.previous("demo") == "v1"
    removed = reg.prune("demo", keep=2)
    assert removed == ["v3", "v4"]
    assert reg.versions("demo") == ["v1", "v2", "v5", "v6"] and reg.current("demo") == "v2"
    assert not [p for p in (reg.root / "demo").iterdir() if p.name.startswith(".deleting")]
    assert reg.rollback("demo")["current"] == "v1"


@pytest.mark.parametrize("keep", [0, -1])
def test_prune_with_keep_zero_deletes_nothing(three_versions, keep):
    """keep = 0 turns retention off."""
    assert three_versions.prune("demo", keep=keep) == [] and three_versions.versions("demo") == ["v1", "v2", "v3"]
