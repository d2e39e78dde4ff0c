"""The controller journal: CRC lines, torn tails cut, damage in the middle refused, one writer."""

from __future__ import annotations

import pytest

from nas.controller.journal import Journal, JournalBusy, JournalCorrupt, read_events, scan
from nas.controller.snapshot import load_latest, write_snapshot
from nas.controller.state import fold

pytestmark = pytest.mark.unit


def test_append_and_read_back(tmp_path):
    p = tmp_path / "journal.jsonl"
    j, events = Journal.open(p)
    assert events == []
    j.append("ask", n=2, ids=["a", "b"], cands={})
    j.append("tell", sync=False, ids=[])
    j.close()
    evs = read_events(p)
    assert [e["ev"] for e in evs] == ["ask", "tell"] and [e["seq"] for e in evs] == [0, 1]


def test_torn_last_line_is_ignored_and_cut_before_the_next_append(tmp_path):
    p = tmp_path / "journal.jsonl"
    j, _ = Journal.open(p)
    j.append("start", pid=1)
    j.append("ask", n=1, ids=["x"], cands={})
    j.close()
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 7])  # crash in the middle of the second line
    assert [e["ev"] for e in read_events(p)] == ["start"]
    assert scan(p).torn_bytes > 0
    j, events = Journal.open(p)
    assert len(events) == 1 and j.next_seq == 1
    j.append("stop", reason="done")
    j.close()
    assert [e["ev"] for e in read_events(p)] == ["start", "stop"]


def test_bad_crc_in_the_middle_is_reported_with_the_fix(tmp_path):
    p = tmp_path / "journal.jsonl"
    j, _ = Journal.open(p)
    for i in range(3):
        j.append("start", pid=i)
    j.close()
    lines = p.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"pid":1', b'"pid":9')
    p.write_bytes(b"".join(lines))
    with pytest.raises(JournalCorrupt, match="head -c"):
        read_events(p)


def test_second_writer_is_refused(tmp_path):
    p = tmp_path / "journal.jsonl"
    j, _ = Journal.open(p)
    with pytest.raises(JournalBusy, match="locked by another controller"):
        Journal.open(p)
    j.close()
    Journal.open(p)[0].close()


def test_snapshot_round_trip_skips_damaged_and_keeps_two(tmp_path):
    state = fold([{"seq": 0, "t": 1.0, "ev": "start", "pid": 1}])
    for seq in (3, 5, 9):
        write_snapshot(tmp_path, seq, state.to_json())
    assert len(list(tmp_path.glob("snapshot-*.json"))) == 2
    snap = load_latest(tmp_path)
    assert snap is not None and snap.seq == 9 and snap.state["starts"][0]["pid"] == 1
    assert load_latest(tmp_path, max_seq=8).seq == 5  # the journal is shorter than seq 9
    newest = sorted(tmp_path.glob("snapshot-*.json"))[-1]
    newest.write_bytes(newest.read_bytes()[:-5])
    assert load_latest(tmp_path).seq == 5


def test_snapshot_holds_the_fold_only_never_the_strategy(tmp_path):
    write_snapshot(tmp_path, 0, fold([]).to_json())
    snap = load_latest(tmp_path)
    assert snap is not None and not hasattr(snap, "strategy")
    assert b"strategy" not in snap.path.read_bytes()


def test_fold_keeps_job_refs_and_counts_attach_and_resubmit():
    row = {"candidate_id": "a"}
    evs = [
        {"seq": 0, "t": 1.0, "ev": "ask", "n": 2, "ids": ["a", "b"], "cands": {"a": row, "b": row}},
        {"seq": 1, "t": 1.0, "ev": "submit", "ids": ["a"], "jobs": ["j1"]},  # before refs
        {"seq": 2, "t": 1.0, "ev": "submit", "ids": ["a", "b"], "jobs": ["j2", ""],
         "refs": [{"dir": "jobs/x", "pos": 0, "n": 1}, {}]},
        {"seq": 3, "t": 1.0, "ev": "submit", "update": True, "ids": ["b"], "jobs": ["j3"],
         "refs": [{"dir": "jobs/x", "pos": 1, "n": 2}]},
        {"seq": 4, "t": 1.0, "ev": "attach", "ids": ["a"], "jobs": ["j2"]},
        {"seq": 5, "t": 1.0, "ev": "resubmit", "ids": ["b"], "why": ["lost: gone"]},
    ]  # fmt: skip
    s = fold(evs)
    assert s.cands["a"].jobs == ["j1", "j2"] and s.cands["a"].refs[-1]["dir"] == "jobs/x"
    assert len(s.cands["a"].refs) == 2 and s.cands["a"].refs[0] == {}
    assert s.cands["b"].jobs == ["", "j3"] and s.cands["b"].refs[-1]["pos"] == 1
    assert s.cands["b"].phase == "submitted"
    assert (s.attached, s.resubmitted) == (1, 1)
    assert type(s).from_json(s.to_json()).cands["b"].refs == s.cands["b"].refs


def test_scan_parses_only_the_tail_but_checks_every_line(tmp_path):
    from nas.controller.journal import Journal, scan

    p = tmp_path / "j.jsonl"
    j, _ = Journal.open(p)
    for i in range(5):
        j.append("tell", sync=False, ids=[str(i)])
    j.close()
    evs = scan(p, decode_from=3).events
    assert evs[:3] == [{"seq": 0}, {"seq": 1}, {"seq": 2}]
    assert [e["ids"] for e in evs[3:]] == [["3"], ["4"]]
    assert scan(p, decode_from=99).events[-1]["ids"] == ["4"]  # the last one always parsed
    raw = p.read_bytes().splitlines(keepends=True)
    raw[1] = raw[1].replace(b'"1"', b'"x"')  # damage before decode_from: still detected
    p.write_bytes(b"".join(raw))
    with pytest.raises(JournalCorrupt):
        scan(p, decode_from=3)
