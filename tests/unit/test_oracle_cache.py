"""The oracle's shared cache on disk: exact round trips for every task, processes sharing one directory
(each entry computed once), readers never seeing part of an entry, corrupt entries recomputed, and a
new fingerprint a miss."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from physgen.cell.config import PhysicsConfig
from physgen.tasks import load_task, task_names
from physgen.tasks import oracle as oracle_mod
from physgen.tasks.oracle import CACHE_ENV, Oracles, OracleStore, cache_root

KEYS = [("shift", 0), ("stability", 1), ("remove", 2), ("shift", 3)]


def computed(name: str, seed: int):
    """The oracle of ``(name, seed, train)`` computed here, without any disk cache."""
    oracles = Oracles(disk=False)
    try:
        return oracles.get(load_task(name), load_task(name).sample(seed))
    finally:
        oracles.close()


def _share(root: str, keys: list) -> list:
    """In a process of its own: the oracles of ``keys`` through a disk cache at ``root``."""
    oracles = Oracles(disk=root)
    try:
        results = [oracles.get(load_task(name), load_task(name).sample(seed)) for name, seed in keys]
        return [results, oracles.counts]
    finally:
        oracles.close()


def _rewrite(root: str, name: str, seed: int, times: int) -> None:
    """In a process of its own: store the same entry ``times`` times (each an atomic replace)."""
    task, oracles = load_task(name), Oracles(disk=root)
    inst = task.sample(seed)
    result = oracles.get(task, inst)
    for _ in range(times):
        assert oracles.store.put(task, inst, result)
    oracles.close()


@pytest.mark.parametrize("name", task_names())
def test_every_task_s_oracle_comes_back_from_disk_exactly(name, tmp_path):
    task = load_task(name)
    inst = task.sample(0, "heldout")
    first = Oracles(disk=tmp_path)
    result = first.get(task, inst)
    first.close()
    assert first.counts == {"memory": 0, "disk": 0, "computed": 1}
    assert first.store.path(inst).is_file()
    second = Oracles(disk=tmp_path)
    assert second.get(task, inst) == result and second.counts["disk"] == 1
    assert second.get(task, inst) == result and second.counts["memory"] == 1


def test_two_processes_on_the_same_keys_share_one_directory(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        (a, counts_a), (b, counts_b) = pool.starmap(_share, [(str(tmp_path), KEYS), (str(tmp_path), KEYS[::-1])])
    expected = [computed(name, seed) for name, seed in KEYS]
    assert a == expected and b == expected[::-1]
    assert counts_a["computed"] + counts_a["disk"] == len(KEYS) == counts_b["computed"] + counts_b["disk"]
    assert counts_a["computed"] + counts_b["computed"] == len(KEYS)  # each entry computed once: the other waited
    later = Oracles(disk=tmp_path)
    assert [later.get(load_task(n), load_task(n).sample(s)) for n, s in KEYS] == expected
    assert later.counts == {"memory": 0, "disk": len(KEYS), "computed": 0}  # both wrote whole entries


def test_a_reader_never_sees_part_of_an_entry_being_rewritten(tmp_path):
    task, (name, seed) = load_task("shift"), KEYS[0]
    expected = computed(name, seed)
    writer = multiprocessing.get_context("spawn").Process(target=_rewrite, args=(str(tmp_path), name, seed, 400))
    writer.start()
    store, inst = OracleStore(tmp_path, PhysicsConfig()), task.sample(seed)
    seen = 0
    while writer.is_alive() or seen == 0:
        got = store.get(task, inst)
        assert got is None or got == expected  # absent until the first write, then always whole
        seen += got is not None
    writer.join()
    assert writer.exitcode == 0 and seen > 0
    assert not list(store.path(inst).parent.glob("*.tmp"))  # no temporary file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "checksum", "other_instance", "empty"])
def test_a_damaged_entry_is_recomputed_and_repaired(tmp_path, damage):
    task = load_task("shift")
    inst = task.sample(0)
    first = Oracles(disk=tmp_path)
    result = first.get(task, inst)
    path = first.store.path(inst)
    text = path.read_text()
    entry = json.loads(text)
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "checksum":
        entry["result"] = entry["result"].replace("True", "False", 1)
        path.write_text(json.dumps(entry))
    elif damage == "other_instance":
        entry["key"]["instance"] = "0" * 64
        path.write_text(json.dumps(entry))
    else:
        path.write_text("")
    again = Oracles(disk=tmp_path)
    assert again.get(task, inst) == result and again.counts["computed"] == 1  # never trusted
    assert Oracles(disk=tmp_path).store.get(task, inst) == result  # and written back whole


def test_another_fingerprint_is_a_miss(tmp_path, monkeypatch):
    task = load_task("stability")
    inst = task.sample(1)
    Oracles(disk=tmp_path).get(task, inst)
    other_physics = Oracles(PhysicsConfig(solver_iterations=99), disk=tmp_path)
    other_physics.get(task, inst)
    assert other_physics.counts["computed"] == 1
    monkeypatch.setattr(oracle_mod, "_code_digest", lambda: "the task code changed")
    other_code = Oracles(disk=tmp_path)
    other_code.get(task, inst)
    assert other_code.counts["computed"] == 1
    assert len(list((tmp_path / "oracles").iterdir())) == 3  # one directory per fingerprint


def test_the_cache_directory_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "here"))
    assert cache_root() == tmp_path / "here"
    assert Oracles().store.root == tmp_path / "here"
    for off in ("", "off", "0"):
        monkeypatch.setenv(CACHE_ENV, off)
        assert cache_root() is None and Oracles().store is None
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "physgen"
    assert Oracles(disk=False).store is None
