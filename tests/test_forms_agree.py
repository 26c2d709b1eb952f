"""One signature, whatever the format: debug=0, debug=1 and debug=2 of one moment agree.

DESIGN.md's first rule. Two checks:

1. EXACT, on tests/data/forms: one quiet process (tests/data/goprog) wrote its
   goroutine profile in the three forms one after the other; after parsing and
   aggregate(), every signature has the same count (and label sets) in all three.
2. WITHIN CHURN, on the dev corpus: where a series was captured in several forms
   per moment (each form a separate HTTP request, so a few goroutines move between
   them), the counts differ by no more than a few goroutines, and no signature is
   seen in one form throughout a series while the other form never has it (that
   would be a form difference, not a change between requests).

Files are classified by content (ingest.sniff, gunzipping first), never by name;
the files of one moment are those of one folder whose names share the part before
the first dot (the corpus' name stems), and only groups of two or more forms count.
"""

from __future__ import annotations

import gzip
import io
import os
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from goroscope.aggregate import aggregate
from goroscope.ingest import aggregated, pprof, sniff
from goroscope.model import Signature, Summary

FORMS = Path(__file__).resolve().parent / "data" / "forms"
FORM_FILES = {
    "pprof": FORMS / "goroutine.debug0.pb.gz",
    "debug1": FORMS / "goroutine.debug1.txt",
    "debug2": FORMS / "goroutine.debug2.txt",
}
COMPARED = ("debug1", "debug2", "pprof")


def _decompressed(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _form_of(data: bytes) -> tuple[str, str] | None:
    """Return (format, profile) of a decompressed file by its content, None if not a dump."""
    s = sniff(data[:65536])
    if s is not None:
        return None if s.crash else (s.format, s.profile)
    if pprof.looks_like_profile(data[:65536]):
        # TODO(ingest owner): ingest.sniff misses real runtime/pprof protobufs (they
        # start with period_type, field 11); test_sniff_knows_every_form says so.
        return ("pprof", "unknown")
    return None


def _parse(fmt: str, data: bytes, name: str):
    """Return the Snapshot of `data` in form `fmt`."""
    if fmt == "debug1":
        return aggregated.parse(io.BytesIO(data), name)
    if fmt == "pprof":
        return pprof.parse(data, name)
    from goroscope.ingest import traceback

    return traceback.parse(io.BytesIO(data), name)


def _is_writer(sig: Signature) -> bool:
    """Return True for the goroutine writing the profile.

    Its stack is the one thing that differs by form, because the form decides the
    code path it is in: debug=2 is runtime/pprof.writeGoroutineStacks (runtime.Stack),
    debug=1 and debug=0 are writeRuntimeProfile, and its line in the caller differs
    between the three calls. Any stack running runtime/pprof is such a writer.
    """
    return any(f.function.startswith("runtime/pprof.") for f in sig.frames)


def _not_started(summary: Summary, i: int) -> bool:
    """Return True when stack `i` of a debug=2 summary is goroutines that have not run yet.

    runtime/pprof records such a goroutine as its bare goexit return address, so debug=1
    and debug=0 show it with no frame at all, while the traceback prints its start
    function (`net/http.(*connReader).startBackgroundRead.gowrap2()`, `[runnable]`).
    """
    st = summary.stacks[i]
    return len(st.signature.frames) == 1 and {s for s, _ in st.states} == {"runnable"}


def _counts(summary: Summary) -> Counter[Signature]:
    """Return the count of every signature in `summary`, the writer left out, not-started folded."""
    out: Counter[Signature] = Counter()
    for i, st in enumerate(summary.stacks):
        if _is_writer(st.signature):
            continue
        sig = Signature(frames=()) if summary.format == "debug2" and _not_started(summary, i) else st.signature
        out[sig] += st.count
    return out


def _diff(a: Counter[Signature], b: Counter[Signature]) -> dict[str, tuple[int, int]]:
    return {k.key() or "<no frames>": (a[k], b[k]) for k in set(a) | set(b) if a[k] != b[k]}


# ------------------------------------------------------------------ exact agreement


def test_forms_files_are_one_quiet_moment():
    # GIVEN the three forms of one moment
    summaries = {fmt: aggregate(_parse(fmt, _decompressed(p), p.name)) for fmt, p in FORM_FILES.items()}
    # THEN the totals agree, writer included
    assert {fmt: s.total for fmt, s in summaries.items()} == {"pprof": 23, "debug1": 23, "debug2": 23}
    assert summaries["debug1"].header_total == 23
    # AND every signature but the writer's has the same count in every form
    counts = {fmt: _counts(s) for fmt, s in summaries.items()}
    assert _diff(counts["debug2"], counts["debug1"]) == {}
    assert _diff(counts["debug2"], counts["pprof"]) == {}
    assert sum(counts["debug2"].values()) == 22  # all but the writer
    # AND the label sets agree (debug=2 prints them since go.mod says go 1.27)
    labels = {
        fmt: {st.signature: st.labels for st in s.stacks if st.labels and not _is_writer(st.signature)}
        for fmt, s in summaries.items()
    }
    assert labels["debug1"] == labels["pprof"] == labels["debug2"] != {}
    # AND exactly one writer per form, whose stacks differ by form
    writers = {fmt: [st.signature for st in s.stacks if _is_writer(st.signature)] for fmt, s in summaries.items()}
    assert all(len(w) == 1 for w in writers.values())


def test_forms_files_cover_the_ways_to_block():
    s = aggregate(_parse("debug2", FORM_FILES["debug2"].read_bytes(), "d2"))
    states = Counter(state for st in s.stacks for state, n in st.states for _ in range(n))
    assert {
        "chan send",
        "chan receive",
        "select",
        "sync.Mutex.Lock",
        "sync.WaitGroup.Wait",
        "sync.Cond.Wait",
        "sleep",
        "chan receive (nil chan)",
    } <= set(states)
    functions = {f.function for st in s.stacks for f in st.signature.frames}
    assert {"main.take", "main.drain", "main.waitFor[...]", "main.main.func4", "main.(*pool).worker"} <= functions


def test_sniff_knows_every_form():
    for fmt, path in FORM_FILES.items():
        got = sniff(_decompressed(path)[:65536])
        assert got is not None and got.format == fmt, f"{path.name}: sniffed {got}"


# ------------------------------------------------------------------------- corpus


def _corpus_files(corpus: Path) -> list[tuple[Path, str, str, bytes]]:
    out = []
    for p in sorted(corpus.rglob("*")):
        if not p.is_file():
            continue
        try:
            data = _decompressed(p)
        except (OSError, EOFError):
            continue
        form = _form_of(data)
        if form is not None:
            out.append((p, form[0], form[1], data))
    return out


@pytest.fixture(scope="module")
def corpus_files(corpus_dir: Path) -> list[tuple[Path, str, str, bytes]]:
    return _corpus_files(corpus_dir)


def _moments(files) -> dict[Path, list[dict[str, tuple[Path, bytes]]]]:
    """Return, per folder, the moments captured in two or more forms: {format: (path, data)}."""
    groups: dict[tuple[Path, str], dict[str, tuple[Path, bytes]]] = defaultdict(dict)
    for path, fmt, profile, data in files:
        if fmt in COMPARED and profile in ("goroutine", "unknown"):
            groups[(path.parent, path.name.split(".", 1)[0])][fmt] = (path, data)
    out: dict[Path, list[dict[str, tuple[Path, bytes]]]] = defaultdict(list)
    for (folder, _), forms in sorted(groups.items()):
        if len(forms) >= 2:
            out[folder].append(forms)
    return out


def test_corpus_forms_agree_within_churn(corpus_files, corpus_dir: Path):
    series = _moments(corpus_files)
    assert series, f"no moment captured in two forms under {corpus_dir}"
    failures = []
    for folder, moments in series.items():
        only_in: dict[tuple[str, str], Counter[Signature]] = defaultdict(Counter)
        pairs: Counter[tuple[str, str]] = Counter()
        for forms in moments:
            summaries = {fmt: aggregate(_parse(fmt, data, str(p))) for fmt, (p, data) in forms.items()}
            fmts = sorted(summaries)
            for i, a in enumerate(fmts):
                for b in fmts[i + 1 :]:
                    sa, sb = summaries[a], summaries[b]
                    ca, cb = _counts(sa), _counts(sb)
                    pairs[(a, b)] += 1
                    moved = sum(abs(ca[k] - cb[k]) for k in set(ca) | set(cb))
                    # A goroutine that changed stack between the two requests moves 2, one
                    # that started or ended moves 1: allow a few, plus what the totals say.
                    budget = 4 + 2 * abs(sa.total - sb.total) + max(sa.total, sb.total) // 20
                    if moved > budget:
                        name = forms[a][0].relative_to(corpus_dir)
                        failures.append(f"{name} {a} vs {b}: {moved} goroutines differ (budget {budget})")
                    for k in set(ca) - set(cb):
                        only_in[(a, b)][k] += 1
                    for k in set(cb) - set(ca):
                        only_in[(b, a)][k] += 1
        # A signature present in one form at most moments and never in the other is a
        # difference of form, not churn.
        for (a, b), seen in only_in.items():
            n = pairs[tuple(sorted((a, b)))]
            for sig, times in seen.items():
                if n >= 4 and times > n // 2:
                    failures.append(
                        f"{folder.relative_to(corpus_dir)}: in {times} of {n} moments {a} has a signature {b} never has:\n"
                        + (sig.key() or "<no frames>")
                    )
    assert not failures, "\n".join(failures)


def test_corpus_debug1_totals_equal_their_headers(corpus_files):
    debug1 = [(p, data) for p, fmt, _, data in corpus_files if fmt == "debug1"]
    assert debug1
    for p, data in debug1:
        snap = aggregated.parse(io.BytesIO(data), str(p))
        summary = aggregate(snap)
        assert snap.total == snap.count == summary.total == summary.header_total, p


def test_corpus_protobuf_profiles_are_sniffed(corpus_files, corpus_dir: Path):
    pb = [p for p, fmt, _, data in corpus_files if fmt == "pprof"]
    if not pb and not os.environ.get("CI"):
        pytest.skip(f"no protobuf profile in {corpus_dir}")
    missed = [str(p.relative_to(corpus_dir)) for p in pb if sniff(_decompressed(p)[:65536]) is None]
    assert not missed, f"ingest.sniff does not recognise {len(missed)} runtime/pprof protobufs, e.g. {missed[0]}"
