"""Signature rules, code classes and the leak site, each tested alone on hand-built frames."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from goroscope.model import Frame
from goroscope.signature import (
    CodeClass,
    Options,
    code_class,
    drop_goexit,
    drop_leading_runtime,
    fold_generics,
    inferred_state,
    key,
    leak_site,
    normalise,
    package_of,
    signature_of,
)

OPTS = Options()


def F(function: str, file: str = "/src/app/main.go", line: int = 1) -> Frame:
    return Frame(function=function, file=file, line=line)


def test_fold_generics_folds_shapes_and_nested_brackets():
    frames = (F("main.Map[go.shape.int,go.shape.string]"), F("main.(*Tree[...]).Insert"), F("main.G[main.Pair[int,string]]"))
    out = fold_generics(frames, OPTS)
    assert [f.function for f in out] == ["main.Map[...]", "main.(*Tree[...]).Insert", "main.G[...]"]


def test_drop_goexit_only_at_the_bottom():
    frames = (F("main.worker"), F("runtime.goexit", "/usr/local/go/src/runtime/asm_amd64.s", 1700))
    assert drop_goexit(frames, OPTS) == (F("main.worker"),)


def test_drop_leading_runtime_keeps_sync_and_the_rest():
    frames = (
        F("runtime.gopark", "/usr/local/go/src/runtime/proc.go", 435),
        F("runtime.semacquire1", "/usr/local/go/src/runtime/sema.go", 160),
        F("sync.runtime_SemacquireWaitGroup", "/usr/local/go/src/runtime/sema.go", 114),
        F("sync.(*WaitGroup).Wait", "/usr/local/go/src/sync/waitgroup.go", 118),
        F("main.run"),
    )
    out = drop_leading_runtime(frames, OPTS)
    assert [f.function for f in out] == ["sync.runtime_SemacquireWaitGroup", "sync.(*WaitGroup).Wait", "main.run"]


def test_drop_leading_runtime_keeps_one_frame_of_an_all_runtime_stack():
    frames = (F("runtime.gopark", "proc.go", 1), F("runtime.bgsweep", "mgcsweep.go", 2))
    assert drop_leading_runtime(frames, OPTS) == (F("runtime.bgsweep", "mgcsweep.go", 2),)


def test_protobuf_and_text_forms_give_one_signature():
    text = (F("main.leak", line=10),)
    proto = (F("runtime.gopark", "/usr/local/go/src/runtime/proc.go", 435), F("runtime.chanrecv", "/usr/local/go/src/runtime/chan.go", 1), F("main.leak", line=10), F("runtime.goexit", "/usr/local/go/src/runtime/asm_amd64.s", 1700))
    assert signature_of(text) == signature_of(proto)
    assert key(signature_of(text)) == "main.leak /src/app/main.go:10"


def test_lines_matter():
    assert signature_of((F("net/http.(*persistConn).readLoop", "/usr/local/go/src/net/http/transport.go", 2616),)) != signature_of(
        (F("net/http.(*persistConn).readLoop", "/usr/local/go/src/net/http/transport.go", 2493),)
    )


@dataclass
class ClassCase:
    name: str
    function: str
    file: str
    want: CodeClass


CLASS_CASES = [
    ClassCase("goroot", "net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", CodeClass.STDLIB),
    ClassCase("debian goroot", "sync.(*Mutex).Lock", "/usr/lib/go-1.19/src/sync/mutex.go", CodeClass.STDLIB),
    ClassCase("trimpath stdlib", "net/http.(*conn).serve", "net/http/server.go", CodeClass.STDLIB),
    ClassCase("runtime", "runtime.gopark", "/usr/local/go/src/runtime/proc.go", CodeClass.RUNTIME),
    ClassCase("internal runtime", "internal/runtime/syscall.Syscall6", "/usr/local/go/src/internal/runtime/syscall/asm.s", CodeClass.RUNTIME),
    ClassCase("gopath app", "github.com/acme/orders/internal/inventory.(*Client).query", "/go/src/github.com/acme/orders/internal/inventory/lookup.go", CodeClass.APP),
    ClassCase("trimpath module", "github.com/acme/tc/internal/x.F", "github.com/acme/tc/internal/x/x.go", CodeClass.APP),
    ClassCase("main", "main.main", "/apps/x/main.go", CodeClass.APP),
    ClassCase("main closure", "main.main.func1", "/apps/x/main.go", CodeClass.APP),
    ClassCase("vendored", "github.com/acme/pubsub.(*Broker).pump", "/apps/notifier/vendor/github.com/acme/pubsub/broker.go", CodeClass.VENDOR),
    ClassCase("goroot vendor", "vendor/golang.org/x/net/http2/hpack.F", "/usr/local/go/src/vendor/golang.org/x/net/http2/hpack/x.go", CodeClass.STDLIB),
    ClassCase("dotless gopath app", "myapp/server.Run", "/home/u/go/src/myapp/server/run.go", CodeClass.APP),
    ClassCase("windows goroot", "net.(*netFD).Read", "C:/Program Files/Go/src/net/fd_posix.go", CodeClass.STDLIB),
    ClassCase("url-escaped module", "gopkg.in/yaml%2ev3.(*parser).parse", "/go/pkg/mod/gopkg.in/yaml.v3@v3.0.1/parserc.go", CodeClass.APP),
]


@pytest.mark.parametrize("case", CLASS_CASES, ids=lambda c: c.name)
def test_code_class(case: ClassCase):
    assert code_class(F(case.function, case.file)) is case.want


def test_package_of():
    assert package_of("net/http.(*conn).serve") == "net/http"
    assert package_of("github.com/a/b.(*T).M.func1") == "github.com/a/b"
    assert package_of("gopkg.in/yaml%2ev3.F") == "gopkg.in/yaml.v3"


def test_leak_site_first_application_frame():
    frames = (
        F("sync.(*WaitGroup).Wait", "/usr/local/go/src/sync/waitgroup.go", 118),
        F("github.com/acme/x/pool.(*Pool).worker", "/go/src/github.com/acme/x/pool/pool.go", 20),
        F("github.com/acme/x/tick.OnTick", "/go/src/github.com/acme/x/tick/tick.go", 50),
    )
    assert leak_site(frames).function == "github.com/acme/x/pool.(*Pool).worker"
    wrapped = Options(wrappers=("github.com/acme/x/pool...",))
    assert leak_site(frames, wrapped).function == "github.com/acme/x/tick.OnTick"


def test_leak_site_of_stdlib_only_stack_is_its_entry_frame():
    frames = (
        F("net/http.(*persistConn).readLoop", "/usr/local/go/src/net/http/transport.go", 2616),
    )
    assert leak_site(frames).line == 2616
    frames = (
        F("internal/poll.runtime_pollWait", "/usr/local/go/src/runtime/netpoll.go", 351),
        F("bufio.(*Reader).Peek", "/usr/local/go/src/bufio/bufio.go", 152),
        F("net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", 2193),
    )
    assert leak_site(frames).function == "net/http.(*conn).serve"


def test_vendor_can_be_configured_out_of_application_code():
    frames = (
        F("github.com/acme/pubsub.(*Broker).pump", "/apps/n/vendor/github.com/acme/pubsub/broker.go", 40),
        F("main.run", "/apps/n/main.go", 9),
    )
    assert leak_site(frames).function == "github.com/acme/pubsub.(*Broker).pump"
    assert leak_site(frames, Options(vendor_is_app=False)).function == "main.run"


def test_rules_can_be_shortened_by_config():
    frames = (F("runtime.gopark", "/usr/local/go/src/runtime/proc.go", 1), F("main.x"))
    assert len(normalise(frames, Options(rules=("fold_generics",)))) == 2
    assert len(normalise(frames)) == 1


def test_drop_hidden_runtime_drops_unexported_runtime_frames_anywhere():
    from goroscope.signature import drop_hidden_runtime

    frames = (F("main.main"), F("runtime.main", "/usr/local/go/src/runtime/proc.go", 283))
    assert drop_hidden_runtime(frames, OPTS) == (F("main.main"),)
    frames = (F("runtime.Gosched", "/usr/local/go/src/runtime/proc.go", 1), F("runtime.gopanic", "/usr/local/go/src/runtime/panic.go", 2), F("main.f"))
    assert drop_hidden_runtime(frames, OPTS) == frames


def test_drop_go_wrappers_unless_alone():
    from goroscope.signature import drop_go_wrappers

    frames = (F("github.com/a/tax.(*H).ask"), F("github.com/a/tax.(*H).Quote.gowrap1"))
    assert drop_go_wrappers(frames, OPTS) == (F("github.com/a/tax.(*H).ask"),)
    alone = (F("net/http.(*connReader).startBackgroundRead.gowrap2", "/usr/local/go/src/net/http/server.go", 742),)
    assert drop_go_wrappers(alone, OPTS) == alone


def test_matches_exact_names_and_goleak_prefixes():
    from goroscope.signature import matches

    pats = ("net/http.(*persistConn).readLoop", "github.com/acme/pool...")
    assert matches("net/http.(*persistConn).readLoop", pats)
    assert not matches("net/http.(*persistConn).writeLoop", pats)
    assert matches("github.com/acme/pool.(*P).worker", pats)
    assert not matches("github.com/acme/other.F", pats)
    assert not matches(None, pats) and not matches("x", ())


def test_any_matches():
    from goroscope.signature import any_matches

    assert any_matches(["main.main", "os/signal.Notify.func1"], ("os/signal...",))
    assert any_matches(["a.B", "c.D"], ("c.D",))
    assert not any_matches(["a.B"], ("c...", "d.E"))
    assert not any_matches(["a.B"], ())


@pytest.mark.parametrize(
    "functions, state",
    [
        (["runtime.gopark", "runtime.chansend", "runtime.chansend1", "github.com/acme/pubsub.(*Broker).pump"], "chan send"),
        (["runtime.gopark", "runtime.chanrecv", "runtime.chanrecv2", "main.loop"], "chan receive"),
        (["runtime.gopark", "runtime.selectgo", "main.loop"], "select"),
        (["runtime.gopark", "runtime.goparkunlock", "runtime.semacquire1", "internal/sync.runtime_SemacquireMutex",
          "internal/sync.(*Mutex).lockSlow", "internal/sync.(*Mutex).Lock", "sync.(*Mutex).Lock", "main.apply"], "sync.Mutex.Lock"),
        (["runtime.gopark", "runtime.semacquire1", "sync.runtime_SemacquireWaitGroup", "sync.(*WaitGroup).Wait", "main.run"], "sync.WaitGroup.Wait"),
        (["sync.(*WaitGroup).Wait", "main.run"], "sync.WaitGroup.Wait"),  # debug=1 hides the runtime frames
        (["runtime.gopark", "runtime.netpollblock", "internal/poll.runtime_pollWait", "internal/poll.(*pollDesc).wait", "net.(*conn).Read"], "IO wait"),
        (["time.Sleep", "main.tick"], "sleep"),
        (["main.loop"], None),  # a channel wait in debug=1: the frames that tell it are hidden
        (["runtime.gopark", "main.loop", "runtime.chansend1"], None),  # only frames above the first application frame count
    ],
)
def test_inferred_state_reads_the_wait_from_the_parking_frames(functions, state):
    frames = [Frame(function=f, file="/usr/local/go/src/x.go" if not f.startswith("main.") and "acme" not in f else "/app/main.go", line=1) for f in functions]
    assert inferred_state(frames) == state
