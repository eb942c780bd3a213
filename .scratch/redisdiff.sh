#!/bin/bash
# usage: redisdiff.sh <command...>: runs it, prints redis commandstats diffs and redis-server CPU
RPID=$(pgrep -x redis-server | head -1)
snap() { redis-cli info commandstats | tr -d '\r' | grep cmdstat; }
cpu() { awk '{print $14+$15}' /proc/$RPID/stat; }
snap > /tmp/rs0; c0=$(cpu)
"$@"
snap > /tmp/rs1; c1=$(cpu)
echo "redis-server CPU ticks: $((c1-c0)) (x10ms)"
python3 - <<'PY'
import re
def load(f):
    d={}
    for l in open(f):
        m=re.match(r'cmdstat_(\S+):calls=(\d+),usec=(\d+)',l)
        if m: d[m.group(1)]=(int(m.group(2)),int(m.group(3)))
    return d
a=load('/tmp/rs0'); b=load('/tmp/rs1')
rows=[(k,b[k][0]-a.get(k,(0,0))[0],b[k][1]-a.get(k,(0,0))[1]) for k in b]
rows=[r for r in rows if r[1]>0]; rows.sort(key=lambda r:-r[2])
for k,c,u in rows[:20]: print(f"{k:20s} calls={c:8d} usec={u:9d} per={u/c:6.1f}")
PY
