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
set -eu

UPSTREAM="${CONDUCTOR_LB_UPSTREAM:-conductor}"
PORT="${CONDUCTOR_LB_UPSTREAM_PORT:-14355}"
REFRESH="${CONDUCTOR_LB_REFRESH:-2}"
STATE=/run/conductor-lb
SERVERS="$STATE/upstream.conf"

say() { echo "conductor-lb: $*" >&2; }

addresses() {
    getent ahostsv4 "$UPSTREAM" 2>/dev/null | awk '{ print $1 }' | sort -u | paste -sd ' ' -
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
        # No answer at all is more likely a DNS hiccup than no replica: keep the list.
        if [ -z "$found" ] || [ "$found" = "$current" ]; then
            continue
        fi
        render "$found"
        if nginx -e /dev/stderr -s reload; then
            say "replicas of '$UPSTREAM' now: $found"
            current="$found"
        else
            say "reloading nginx failed; will retry"
        fi
    done
}

mkdir -p "$STATE"
initial=""
# At start, give the replicas a few seconds to appear in DNS.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    initial="$(addresses || true)"
    [ -z "$initial" ] || break
    sleep 0.5
done
render "$initial"
say "replicas of '$UPSTREAM': ${initial:-none yet}"

if [ "$#" -gt 0 ]; then
    exec "$@"
fi
case "$REFRESH" in
    0 | "") ;;
    *) follow "$initial" & ;;
esac
exec nginx -e /dev/stderr -g 'daemon off;'
