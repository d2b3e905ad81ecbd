# The real-program row of bench/run_malloc.sh: an allocation-heavy Python
# script (dicts and lists that grow, strings and bytes of many sizes, JSON
# round trips, a sort) with a deterministic output. CPython serves objects
# up to 512 bytes from its own pools (pymalloc) and asks malloc for the
# rest and for every pool arena, list and dict resize; PYTHONMALLOC=malloc
# (MB_PYMALLOC=0 in the driver) sends every object to malloc instead.
# MB_SCALE (environment) multiplies the number of rounds.
import hashlib, json, os, random

scale = float(os.environ.get("MB_SCALE", "1") or 1)
rounds = max(1, int(3 * scale))
rng = random.Random(42)
h = hashlib.sha256()
keep = []
for r in range(rounds):
    d = {}
    for i in range(60000):
        k = "k%d-%d" % (r, rng.randrange(1 << 30))
        d[k] = [i, k * (1 + i % 5), bytes(rng.randrange(16, 2048))]
    items = sorted(d.items(), key=lambda kv: kv[0])
    h.update(str(len(items)).encode())
    blob = json.dumps([[k, v[0], v[1], len(v[2])] for k, v in items[:20000]])
    back = json.loads(blob)
    h.update(hashlib.sha256(blob.encode()).digest())
    parts = []
    for i in range(20000):
        parts.append("%x" % (i * 2654435761 % (1 << 32)) * (1 + i % 40))
    s = "".join(parts)
    h.update(s[:: 997].encode())
    keep.append(back[:: 50])
    if len(keep) > 3:
        keep.pop(0)
    del d, items, blob, back, parts, s
print(rounds, h.hexdigest())
