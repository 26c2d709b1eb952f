"""One big debug=2 dump parsed in byte ranges on several cores gives the Summary of the whole."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from goroscope.aggregate import aggregate, merge
from goroscope.config import Config
from goroscope import aggregate as aggregate_mod
from goroscope.ingest import Sniff, archive, discover, parse_stream

CFG = Config()


def _summarize(src, span=None):
    sniffed = Sniff(format=src.format, profile=src.profile or "goroutine", crash=src.crash)
    with archive.open_source(src, CFG.discovery.max_inflate_bytes, span=span) as f:
        return aggregate(parse_stream(f, src.path, sniffed))


@pytest.fixture()
def big_dump(tmp_path: Path, samples_dir: Path) -> Path:
    """A debug=2 dump of the sample series' goroutines, renumbered, about 1 MB (one writer goroutine, as in one dump)."""
    rests = []
    for f in sorted((samples_dir / "tracing-collector").glob("*.gz")):
        text = gzip.decompress(f.read_bytes()).decode()
        for block in text.strip("\n").split("\n\n"):
            head, _, rest = block.partition(" [")
            rests.append(rest)
    # one dump has one writer goroutine and each id once: a second writer, or an id seen
    # again, would begin a dump of its own (ingest.parts)
    rests = [r for i, r in enumerate(rests * 4) if i == 0 or "\nruntime/pprof.writeGoroutineStacks(" not in r]
    blocks = [f"goroutine {gid} [{rest}" for gid, rest in enumerate(rests, 1)]
    data = ("\n\n".join(blocks) + "\n\n").encode()
    p = tmp_path / "big.txt"
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("parts", [2, 3, 7])
def test_merged_parts_equal_the_whole(big_dump: Path, parts: int):
    # GIVEN a dump split at goroutine headers
    (src,), _ = discover.walk(big_dump, CFG)
    spans = aggregate_mod.split_points(src, parts, 1024)
    assert spans is not None and len(spans) == parts
    assert spans[0][0] == 0 and spans[-1][1] == src.size
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    # WHEN each range is parsed alone and the parts merged
    merged = merge([_summarize(src, s) for s in spans])
    # THEN it is the Summary of the whole file, field for field
    assert merged == _summarize(src)
    assert not merged.truncated


def test_a_cut_last_part_is_truncated(big_dump: Path, tmp_path: Path):
    cut = tmp_path / "cut.txt"
    data = big_dump.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.8)])
    (src,), _ = discover.walk(cut, CFG)
    spans = aggregate_mod.split_points(src, 2, 1024)
    merged = merge([_summarize(src, s) for s in spans], line_offsets=[0, 0])
    whole = _summarize(src)
    assert merged.truncated and whole.truncated
    assert merged.stacks == whole.stacks


def test_small_gzipped_or_archived_files_are_not_split(big_dump: Path, tmp_path: Path):
    (src,), _ = discover.walk(big_dump, CFG)
    assert aggregate_mod.split_points(src, 2, 10 << 20) is None  # too small to be worth it
    gz = tmp_path / "big.txt.gz"
    gz.write_bytes(gzip.compress(big_dump.read_bytes()))
    (gsrc,), _ = discover.walk(gz, CFG)
    assert aggregate_mod.split_points(gsrc, 2, 1024) is None
    assert aggregate_mod.split_points(src, 1, 1024) is None


def test_pipeline_parses_a_big_file_on_every_core_with_the_same_result(big_dump: Path, monkeypatch: pytest.MonkeyPatch):
    from goroscope import pipeline

    # GIVEN the whole-file Summary
    whole = pipeline.summarize_file(big_dump, CFG, jobs=1)
    # WHEN the file is big enough (for this test) to be cut for two workers
    monkeypatch.setattr(aggregate_mod, "SPLIT_MIN_PART_BYTES", 1024)
    planned = []
    real = aggregate_mod.split_points
    monkeypatch.setattr(aggregate_mod, "split_points", lambda *a: planned.append(real(*a)) or planned[-1])
    split = pipeline.summarize_file(big_dump, CFG, jobs=2)
    # THEN it was read in two ranges (by the two worker processes) and the result is the same
    assert len(planned) == 1 and len(planned[0]) == 2
    assert split == whole


def test_inspect_text_of_a_split_file_names_problem_lines_of_the_whole(big_dump: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from goroscope import pipeline

    cut = tmp_path / "cut.txt"
    data = big_dump.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.8)])
    whole = pipeline.summarize_file(cut, CFG, jobs=1)
    monkeypatch.setattr(aggregate_mod, "SPLIT_MIN_PART_BYTES", 1024)
    split = pipeline.summarize_file(cut, CFG, jobs=2)
    assert split.truncated and split.problems == whole.problems and split.stacks == whole.stacks
