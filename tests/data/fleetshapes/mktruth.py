"""Write tests/data/fleetshapes/truth.yaml from the debug=2 files (tests/data/counts.py's reading), per pod. Run from the repository root."""
import sys
from pathlib import Path
sys.path.insert(0, 'tests/data')
import counts as C
import yaml

ROOT = Path('tests/data/fleetshapes')
FILE = 'example.com/fleetshapes/main.go'
FLAGS = {'checkout/pod-a': ['-seed=101', '-leak'], 'checkout/pod-b': ['-seed=202', '-leak'], 'checkout/pod-c': ['-seed=303'],
         'checkout/pod-d': ['-seed=404', '-poison'], 'search/pod-1': ['-seed=501'], 'search/pod-2': ['-seed=502'],
         'search/pod-3': ['-seed=503'], 'search/pod-4': ['-seed=504']}
BENIGN = {
    ('main.(*poller).handle', FILE, 60): 'long-poll handler: open polls ramp to a plateau in the first 50 s, then wander about it (a new target every 3-10 s)',
    ('main.(*poller).clients.func1', FILE, 93): 'the long-poll clients, the same count from the client side',
    ('net/http.(*connReader).backgroundRead', 'net/http/server.go', 746): 'the long-poll handler\'s net/http twin, one per request being served',
    ('net/http.(*conn).serve', 'net/http/server.go', 2193): 'idle keep-alive server connections between polls',
    ('net/http.(*persistConn).readLoop', 'net/http/transport.go', 2493): 'the long-poll client\'s keep-alive connections: ramp with the polls, then held',
    ('net/http.(*persistConn).writeLoop', 'net/http/transport.go', 2833): 'the same connections\' write loops (select), ramp then held',
    ('main.(*pool).worker', FILE, 196): 'fixed pool of 12 workers idle in chan receive between jobs',
    ('main.(*replica).awaitCutover', FILE, 119): 'start-up warm-up: a set parked on a channel receive during the first 2 minutes, held until a cut-over 6 h away',
}
LEAKS = {
    ('main.(*refresher).fetch', FILE, 146): ('growing', '-leak', 'a fetch slower than the 300 ms its caller waits blocks forever on its unbuffered send'),
    ('main.(*pool).apply', FILE, 186): ('stuck', '-poison', 'a job returns with its account locked; the retry strands one worker of the fixed pool of 12 in sync.Mutex.Lock, one every 40-90 s, while the others keep working'),
}

series = []
for path, flags in FLAGS.items():
    folder = ROOT / path
    if not folder.is_dir():
        continue
    files, counts, info = C.per_site(folder)
    entry = {'path': path, 'flags': flags, 'snapshot_count': len(files), 'expected_leaks': [], 'parked': [], 'benign': []}
    for site, c in sorted(counts.items()):
        fn, file, line = site
        states = sorted(info[site][0])
        cb = info[site][1]
        if site in LEAKS:
            kind, flag, note = LEAKS[site]
            if flag in flags and max(c) > 0:
                entry['expected_leaks'].append({'function': fn, 'file': file, 'line': line, 'kind': kind,
                    'created_by': {'function': cb[0], 'file': cb[1], 'line': cb[2]}, 'states_seen': states, 'note': note, 'counts': c})
            elif max(c) > 0:
                entry['benign'].append({'function': fn, 'file': file, 'line': line, 'trap': 'the leak site on a pod without ' + flag + ': the same code, answered in time', 'counts': c})
        elif site in BENIGN:
            e = {'function': fn, 'file': file, 'line': line, 'trap': BENIGN[site], 'counts': c}
            entry['benign'].append(e)
            if fn == 'main.(*replica).awaitCutover':
                entry['parked'].append({'function': fn, 'file': file, 'line': line, 'counts': c})
    series.append(entry)

doc = {
    'set': 'fleetshapes',
    'generated': 'captured 2026-12-06 by tests/data/capture.py (--arg per pod) from prog/ (go1.27.3, go 1.24 module, -trimpath); counts by this set\'s reading of the debug=2 files (tests/data/counts.py)',
    'conventions': {
        'service': 'the folder above a pod (checkout, search): the pods of one service are processes of one binary with their own -seed and flags',
        'kind': 'growing = the count rises; stuck = the same goroutine ids stay blocked (the pool total stays flat)',
        'parked': 'benign sets parked since start-up: reported in the JSON "parked" list, never as suspects',
        'counts': 'goroutines at the leak site in each debug=2 snapshot, in snapshot order',
    },
    'series': series,
}
(ROOT / 'truth.yaml').write_text(yaml.safe_dump(doc, sort_keys=False, width=200, default_flow_style=None), encoding='utf-8')
print('wrote', len(series), 'series')
