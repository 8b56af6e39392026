#!/bin/sh
# conductor-lb: nginx in front of the conductor replicas of docker-compose.replicas.yml.
#
# nginx resolves the names in an upstream block once, at start; replicas added with
# `--scale`, removed, or restarted with another address would go unseen. So this script
# looks up the replicas' DNS name (Compose's embedded DNS answers with one address per
# running replica), writes them as the upstream's servers, and every
# CONDUCTOR_LB_REFRESH seconds looks again: when the set changed it rewrites the list
# and reloads nginx (graceful: open requests and event streams finish on the old
# workers). Between look-ups, nginx's passive health checks (max_fails/fail_timeout,
# proxy_next_upstream) route around a replica that stopped answering.
#
# Only replicas that answer their health check are listed, and nginx starts listening
# once one does. A replica that is still starting refuses connections; listed, it would
# be marked failed, and with every replica marked failed nginx answers 502 for
# fail_timeout even after they are up. So while the stack starts, clients see no 502:
# the port does not answer yet, then it answers from a ready replica.
set -eu

UPSTREAM="${CONDUCTOR_LB_UPSTREAM:-conductor}"
PORT="${CONDUCTOR_LB_UPSTREAM_PORT:-14355}"
REFRESH="${CONDUCTOR_LB_REFRESH:-2}"
# Seconds to wait at start for a first healthy replica before serving anyway (then 502s).
START_WAIT="${CONDUCTOR_LB_START_WAIT:-120}"
STATE=/run/conductor-lb
SERVERS="$STATE/upstream.conf"

say() { echo "conductor-lb: $*" >&2; }

addresses() { # the replicas that resolve and answer GET /api/v1/health with 200
    found="$(getent ahostsv4 "$UPSTREAM" 2>/dev/null | awk '{ print $1 }' | sort -u)"
    [ -n "$found" ] || return 0
    # shellcheck disable=SC2086  # one argument per address
    python3 - "$PORT" $found <<'PY'
import sys, threading, urllib.request
port, addrs = sys.argv[1], sys.argv[2:]
ok = set()
def probe(addr):
    try:
        url = f"http://{addr}:{port}/api/v1/health"
        with urllib.request.urlopen(url, timeout=1.5) as resp:
            if resp.status == 200:
                ok.add(addr)
    except Exception:
        pass
threads = [threading.Thread(target=probe, args=(a,)) for a in addrs]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(" ".join(a for a in addrs if a in ok))
PY
}

render() { # "ADDR ADDR ..." -> $SERVERS (written whole, then renamed over the old one)
    {
        echo "# written by conductor-lb from the addresses of '$UPSTREAM'"
        if [ -z "$1" ]; then
            # Nothing resolves yet: nginx answers 502 until a replica appears.
            echo "server 127.0.0.1:9 down;"
        fi
        for addr in $1; do
            echo "server $addr:$PORT max_fails=2 fail_timeout=5s;"
        done
    } >"$SERVERS.tmp"
    mv "$SERVERS.tmp" "$SERVERS"
}

follow() { # re-resolve forever; reload nginx when the replicas changed
    current="$1"
    while sleep "$REFRESH"; do
        found="$(addresses || true)"
        # No healthy replica at all is more likely a hiccup (DNS, a busy moment) than
        # none being up: keep the list, and nginx's passive checks.
        if [ -z "$found" ] || [ "$found" = "$current" ]; then
            continue
        fi
        render "$found"
        if nginx -e /dev/stderr -s reload; then
            say "healthy replicas of '$UPSTREAM' now: $found"
            current="$found"
        else
            say "reloading nginx failed; will retry"
        fi
    done
}

mkdir -p "$STATE"
initial=""
# At start, wait for the first replica to be ready (in DNS and answering its health check).
waited=0
while [ "$waited" -lt "$((START_WAIT * 2))" ]; do
    initial="$(addresses || true)"
    [ -z "$initial" ] || break
    sleep 0.5
    waited=$((waited + 1))
done
render "$initial"
say "healthy replicas of '$UPSTREAM': ${initial:-none yet}"

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
case "$REFRESH" in
    0 | "") ;;
    *) follow "$initial" & ;;
esac
exec nginx -e /dev/stderr -g 'daemon off;'
