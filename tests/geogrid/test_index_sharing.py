"""One point index shared by many processes: geogrid.assign.shared, a store's index folder,
and ``python -m web`` building it once for its workers."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geogrid import Hierarchy
from geogrid.assign import Assigner, shared
from geogrid.assign.shared import fingerprint, publish, published, shared_assigner
from geogrid.errors import ConfigError
from geogrid.storage import open_store
from tests.conftest import SOUTH, STEP, WEST, tiny_grids, write_tiny_district
from tests.web.test_serve import _children, _free_port, _get, _logged, _start, _wait_until


def _parts(h: Hierarchy) -> tuple[list, dict]:
    return [h.level(key) for key in h.levels], {key: h.grids(key) for key in h.levels}


def _indexes(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def _mapped_from(folder: Path, pid: int | str = "self") -> bool:
    """Whether the process maps a file of ``folder`` into its memory."""
    return str(folder) in Path(f"/proc/{pid}/maps").read_text()


def _points(h: Hierarchy, count: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Random points over and around the district, every grid vertex (edges), and a NaN."""
    west, south, east, north = h.grids(h.levels[0]).total_bounds
    rng = np.random.default_rng(15)
    pad_x, pad_y = (east - west) * 0.2, (north - south) * 0.2
    lon = rng.uniform(west - pad_x, east + pad_x, count)
    lat = rng.uniform(south - pad_y, north + pad_y, count)
    corners = h.grids(h.levels[-1]).geometry.get_coordinates().to_numpy()
    return np.append(np.r_[lon, corners[:, 0]], np.nan), np.append(np.r_[lat, corners[:, 1]], 28)


def test_a_mapped_index_answers_exactly_as_a_built_one(tmp_path, sample_hierarchy):
    levels, grids = _parts(sample_hierarchy)
    lon, lat = _points(sample_hierarchy)
    expected = sample_hierarchy.assign(lon, lat)  # built in this process, as ever
    # Saved as built (building it again would only take time), then mapped back.
    publish(sample_hierarchy.prepare()._assigner, levels, grids, tmp_path)
    mapped = shared_assigner(levels, grids, tmp_path)
    pd.testing.assert_frame_equal(mapped.assign(lon, lat), expected)
    assert {"assigned", "nearest", "unassigned"} <= set(expected["status"])
    # Beyond a bucket the finder searches with GEOS, from a tree a mapped index builds late.
    far = sample_hierarchy.assign(lon, lat, max_distance_m=500)
    pd.testing.assert_frame_equal(mapped.assign(lon, lat, max_distance_m=500), far)
    assert len(_indexes(tmp_path)) == 1 and _mapped_from(tmp_path)


def test_a_saved_index_is_mapped_and_never_built_again(tmp_path, tiny_manifest, monkeypatch):
    levels, grids = _parts(Hierarchy.from_manifest(tiny_manifest))
    assert not published(levels, grids, tmp_path)
    shared_assigner(levels, grids, tmp_path)
    assert published(levels, grids, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("built again")

    monkeypatch.setattr(Assigner, "__init__", refuse)
    loaded = shared_assigner(levels, grids, tmp_path)
    assert loaded.lookup(WEST + STEP * 0.5, SOUTH + STEP * 0.5)["codes"]["grid"] == "101"


def test_a_damaged_index_is_built_again(tmp_path, tiny_manifest):
    levels, grids = _parts(Hierarchy.from_manifest(tiny_manifest))
    folder = tmp_path / "index"
    shared_assigner(levels, grids, folder)
    (index,) = _indexes(folder)
    files = sorted(index.iterdir())
    files[0].unlink()  # as a cleaner of old temporary files might
    loaded = shared_assigner(levels, grids, folder)
    assert loaded.lookup(WEST + STEP * 0.5, SOUTH + STEP * 0.5)["codes"]["grid"] == "101"
    assert sorted(index.iterdir()) == files


def test_the_fingerprint_follows_the_boundaries_not_the_order_of_rows(tiny_manifest):
    levels, grids = _parts(Hierarchy.from_manifest(tiny_manifest))
    reordered = {key: frame.iloc[::-1] for key, frame in grids.items()}
    assert fingerprint(levels, reordered) == fingerprint(levels, grids)
    moved = grids["grid"].copy()
    moved.loc[0, "geometry"] = box(WEST, SOUTH, WEST + STEP, SOUTH + STEP * 1.0001)
    assert fingerprint(levels, {**grids, "grid": moved}) != fingerprint(levels, grids)
    renamed = grids["grid"].assign(code=grids["grid"]["code"] + "9")
    assert fingerprint(levels, {**grids, "grid": renamed}) != fingerprint(levels, grids)


def _look_up_in_a_new_process(levels, grids, folder, answers) -> None:
    answers.put(shared_assigner(levels, grids, folder).lookup(WEST + 0.001, SOUTH + 0.001))


def test_processes_racing_for_a_missing_index_publish_it_once(tmp_path, tiny_manifest):
    levels, grids = _parts(Hierarchy.from_manifest(tiny_manifest))
    folder = tmp_path / "index"
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    racers = [
        context.Process(target=_look_up_in_a_new_process, args=(levels, grids, folder, answers))
        for _ in range(3)
    ]
    for racer in racers:
        racer.start()
    found = [answers.get(timeout=120) for _ in racers]
    for racer in racers:
        racer.join(timeout=60)
    assert [racer.exitcode for racer in racers] == [0, 0, 0]
    assert [answer["codes"]["grid"] for answer in found] == ["101"] * 3
    # One index, nothing half-written left beside it (only the lock file).
    assert len(_indexes(folder)) == 1
    assert {p.suffix for p in folder.iterdir() if not p.is_dir()} == {".lock"}


def _narrower_west_grids() -> object:
    """The tiny grids with the line between each street's west and east grids moved west."""
    grids = tiny_grids()
    for row, grid in grids.iterrows():
        west, south, east, north = grid.geometry.bounds
        column = round((west - WEST) / STEP) % 2
        west, east = (west, west + STEP / 2) if column == 0 else (west - STEP / 2, east)
        grids.loc[row, "geometry"] = box(west, south, east, north)
    return grids


def test_a_generation_activated_later_through_another_store_is_built_once_and_shared(
    tmp_path, tiny_manifest
):
    url, folder = f"sqlite:///{tmp_path / 'g.db'}", tmp_path / "index"
    first = open_store(url, index_folder=folder)
    district = Hierarchy.from_manifest(tiny_manifest)
    first.import_generation(district, "first", activate=True, actor="setup")
    point = (WEST + STEP * 0.75, SOUTH + STEP * 0.5)
    assert first.hierarchy().lookup(*point)["codes"]["grid"] == "101"
    second = open_store(url, index_folder=folder)  # another server on the same database
    assert second.hierarchy().lookup(*point)["codes"]["grid"] == "101"
    assert len(_indexes(folder)) == 1  # the second one mapped the first one's index
    redrawn = Hierarchy.from_manifest(
        write_tiny_district(tmp_path / "redrawn", grids=_narrower_west_grids())
    )
    first.import_generation(redrawn, "redrawn", activate=True, actor="setup")
    # The second store meets a generation with no index yet: it builds and saves it.
    assert second.hierarchy().lookup(*point)["codes"]["grid"] == "103"
    assert len(_indexes(folder)) == 2
    assert open_store(url, index_folder=folder).hierarchy().lookup(*point)["codes"]["grid"] == "103"
    assert len(_indexes(folder)) == 2


def test_python_m_web_builds_the_index_once_and_both_workers_map_it(tmp_path, tiny_manifest):
    folder, port = tmp_path / "index", _free_port()
    process = _start(tmp_path, tiny_manifest, port, INDEX_FOLDER=str(folder))
    try:
        _wait_until(lambda: _logged(tmp_path, "Started worker") == 2 or process.poll() is not None,
                    120, "two workers")  # fmt: skip
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        assert _logged(tmp_path, "point index ready") == 1
        base = f"http://127.0.0.1:{port}"
        lookup = f"{base}/api/lookup?lon={WEST + STEP * 0.5}&lat={SOUTH + STEP * 0.5}"
        _wait_until(lambda: _answers(lookup), 60, "a lookup")
        workers = _children(process.pid)
        _wait_until(lambda: all(_mapped_from(folder, pid) for pid in workers), 60, "mapping")
        assert len(workers) == 2 and len(_indexes(folder)) == 1
        assert _get(lookup)["codes"]["grid"] == "101"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            process.stdout_file.close()


def _answers(url: str) -> bool:
    try:
        _get(url)
    except OSError:
        return False
    return True


@pytest.fixture(autouse=True)
def _no_stray_index_folder(monkeypatch, tmp_path):
    # python -m web falls back on the system temp folder: keep tests out of it.
    monkeypatch.setenv("GEOGRID_INDEX_FOLDER", str(tmp_path / "default-index"))


def test_a_folder_another_account_owns_is_refused(tmp_path, monkeypatch):
    # The default folder lives in the shared temporary directory: someone else could
    # make it first and plant an index there. Here this account plays the other one.
    levels, grids = _parts(Hierarchy.from_manifest(write_tiny_district(tmp_path / "d")))
    planted = tmp_path / "planted"
    planted.mkdir()
    owner = planted.stat().st_uid
    monkeypatch.setattr(shared.os, "getuid", lambda: owner + 1)
    with pytest.raises(ConfigError, match=f"owned by user id {owner},"):
        shared_assigner(levels, grids, planted)  # refused, not built in memory
    assert not list(planted.iterdir())


def test_a_folder_of_ours_open_to_others_is_made_private(tmp_path, tiny_manifest):
    levels, grids = _parts(Hierarchy.from_manifest(tiny_manifest))
    folder = tmp_path / "index"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)  # whatever the umask
    shared_assigner(levels, grids, folder)
    assert folder.stat().st_mode & 0o777 == 0o700


def test_another_build_of_the_index_code_never_reads_an_old_index(tiny_manifest, monkeypatch):
    levels, grids = _parts(Hierarchy.from_manifest(tiny_manifest))
    before = fingerprint(levels, grids)
    monkeypatch.setattr(shared, "_build_code", lambda: b"an upgraded locate.py")
    assert fingerprint(levels, grids) != before


def _look_up_after_the_others_are_ready(levels, grids, folder, barrier, answers) -> None:
    barrier.wait()  # all three meet the damaged index at once
    try:
        answers.put(shared_assigner(levels, grids, folder).lookup(WEST + 0.001, SOUTH + 0.001))
    except Exception as error:
        answers.put(repr(error))


def test_processes_meeting_a_damaged_index_at_once_rebuild_it_once_and_all_answer(
    tmp_path, tiny_manifest
):
    levels, grids = _parts(Hierarchy.from_manifest(tiny_manifest))
    folder = tmp_path / "index"
    shared_assigner(levels, grids, folder)
    (index,) = _indexes(folder)
    files = sorted(index.iterdir())
    # A racer that died while writing left its partial folder behind.
    (folder / f".{index.name}.999999").mkdir()
    context = multiprocessing.get_context("fork")
    for _ in range(3):
        sorted(index.glob("*.npy"))[0].unlink()  # as a cleaner of old temporary files might
        barrier, answers = context.Barrier(3), context.Queue()
        racers = [
            context.Process(
                target=_look_up_after_the_others_are_ready,
                args=(levels, grids, folder, barrier, answers),
            )
            for _ in range(3)
        ]
        for racer in racers:
            racer.start()
        found = [answers.get(timeout=120) for _ in racers]
        for racer in racers:
            racer.join(timeout=60)
        assert [a if isinstance(a, str) else a["codes"]["grid"] for a in found] == ["101"] * 3
        assert [racer.exitcode for racer in racers] == [0, 0, 0]
    assert _indexes(folder) == [index] and sorted(index.iterdir()) == files
    assert {p.name for p in folder.iterdir() if not p.is_dir()} == {f"{index.name}.lock"}


def test_a_full_disk_builds_the_index_in_memory_and_leaves_nothing_half_written(
    tmp_path, tiny_manifest, monkeypatch, caplog
):
    saved = []

    def full(path, *args, **kwargs):
        if saved:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        saved.append(path)
        real_save(path, *args, **kwargs)

    real_save = np.save
    monkeypatch.setattr(shared.np, "save", full)
    folder = tmp_path / "index"
    with caplog.at_level(logging.WARNING, logger=shared.__name__):
        district = Hierarchy.from_manifest(tiny_manifest).prepare(folder)
        again = Hierarchy.from_manifest(tiny_manifest).prepare(folder)
    for h in (district, again):
        assert h.lookup(WEST + STEP * 0.5, SOUTH + STEP * 0.5)["codes"]["grid"] == "101"
    assert [p.name for p in folder.iterdir()] == [f"{fingerprint(*_parts(district))}.lock"]
    assert [r.getMessage().count("No space left") for r in caplog.records] == [1]


def test_an_index_someone_published_meanwhile_is_kept(tmp_path, tiny_manifest):
    levels, grids = _parts(Hierarchy.from_manifest(tiny_manifest))
    target = publish(Assigner(levels, grids), levels, grids, tmp_path / "index")
    files = sorted(target.iterdir())
    shared._publish({"other": np.zeros(3)}, target)  # renamed onto it: refused, theirs kept
    assert sorted(target.iterdir()) == files and _indexes(tmp_path / "index") == [target]
