#!/bin/sh
# Build the snapstamps container image with docker or podman (whichever works) and tag it with the
# name the CWL application packages use (the dockerPull of app-package/*.cwl).
#
#   scripts/build_images.sh [--engine docker|podman] [--base IMAGE|debootstrap] [--tag NAME] [--push] [--dry-run]
#
#   --base IMAGE        base image (default: the Dockerfile's, the public python:3.11-slim-bookworm)
#   --base debootstrap  a Debian 12 minbase root file system made with debootstrap (as root) and
#                       imported as localhost/snapstamps-base:bookworm: no registry needed.  The
#                       root file system tarball is cached in $SNAPSTAMPS_CACHE (default
#                       ~/.cache/snapstamps); the imported image is reused while it exists.
#   --tag NAME          image name (default: the app packages' dockerPull)
#   --push              push NAME after the build (log in to the registry first)
#   --dry-run           print the build command instead of running it (nothing is built)
#
# Environment: SNAPSTAMPS_ENGINE (docker|podman), DEBIAN_MIRROR (debootstrap's mirror),
# SSL_CERT_FILE (a CA bundle given to pip during the build as a secret, for TLS-intercepting
# proxies; it never lands in a layer).  With podman on cgroup v1/hybrid hosts (where crun refuses
# to run) and no CONTAINERS_CONF, a containers.conf selecting runc is written to the cache and used.
# Prints the image name, its size and the build time.
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
CACHE=${SNAPSTAMPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapstamps}
BASE_TAG=localhost/snapstamps-base:bookworm
ENGINE=${SNAPSTAMPS_ENGINE:-}
BASE=
TAG=
PUSH=0
DRY=0

die() { echo "build_images.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --engine) ENGINE=${2:?}; shift 2 ;;
        --base) BASE=${2:?}; shift 2 ;;
        --tag) TAG=${2:?}; shift 2 ;;
        --push) PUSH=1; shift ;;
        --dry-run) DRY=1; shift ;;
        -h|--help) sed -n '2,22s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

if [ -z "$TAG" ]; then
    TAG=$(sed -n 's/^ *- *dockerPull: *\(ghcr.io\/snapstamps\/snapstamps:[^ ]*\) *$/\1/p' "$ROOT"/app-package/*.cwl | sort -u)
    [ -n "$TAG" ] || die "no ghcr.io/snapstamps/snapstamps dockerPull in app-package/*.cwl"
    [ "$(printf '%s\n' "$TAG" | wc -l)" -eq 1 ] || die "the app packages name several images: $TAG"
fi

# podman on a host where its default runtime (crun) cannot run: select runc through CONTAINERS_CONF
podman_conf() {
    if [ -z "${CONTAINERS_CONF:-}" ] && command -v runc >/dev/null 2>&1 \
        && [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
        mkdir -p "$CACHE"
        printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' > "$CACHE/containers.conf"
        CONTAINERS_CONF=$CACHE/containers.conf
        export CONTAINERS_CONF
    fi
}

if [ -z "$ENGINE" ]; then
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 \
        && ! docker --version 2>/dev/null | grep -qi podman; then
        ENGINE=docker
    elif command -v podman >/dev/null 2>&1; then
        ENGINE=podman
    else
        die "neither a working docker (engine reachable) nor podman"
    fi
fi
[ "$ENGINE" = podman ] && podman_conf
if [ "$DRY" = 0 ]; then
    "$ENGINE" info >/dev/null 2>&1 || die "$ENGINE does not work here ($ENGINE info failed)"
fi

if [ "$BASE" = debootstrap ] && [ "$DRY" = 1 ]; then
    BASE=$BASE_TAG
elif [ "$BASE" = debootstrap ]; then
    if ! "$ENGINE" image inspect "$BASE_TAG" >/dev/null 2>&1; then
        tarball=$CACHE/debian-bookworm-minbase.tar
        if [ ! -s "$tarball" ]; then
            command -v debootstrap >/dev/null 2>&1 || die "--base debootstrap needs debootstrap"
            [ "$(id -u)" = 0 ] || die "--base debootstrap needs root"
            mkdir -p "$CACHE"
            rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
            echo "debootstrap --variant=minbase bookworm ..." >&2
            debootstrap --variant=minbase bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2 \
                || { rm -rf "$rootfs"; die "debootstrap failed"; }
            rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
            tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
            rm -rf "$rootfs"
        fi
        "$ENGINE" import --change 'CMD ["/bin/bash"]' "$tarball" "$BASE_TAG" >/dev/null
    fi
    BASE=$BASE_TAG
fi

set -- build -f "$ROOT/docker/snapstamps/Dockerfile" -t "$TAG"
[ -n "$BASE" ] && set -- "$@" --build-arg "BASE_IMAGE=$BASE"
if [ -n "${SSL_CERT_FILE:-}" ] && [ -s "$SSL_CERT_FILE" ]; then
    set -- "$@" --secret "id=host-ca,src=$SSL_CERT_FILE"
fi
# podman: the build's RUN steps share the host's network (what works behind this kind of proxy)
[ "$ENGINE" = podman ] && set -- "$@" --network host
[ "$ENGINE" = docker ] && export DOCKER_BUILDKIT=1

if [ "$DRY" = 1 ]; then
    echo "$ENGINE $*${DOCKER_BUILDKIT:+ (DOCKER_BUILDKIT=1)} $ROOT"
    exit 0
fi
start=$(date +%s)
"$ENGINE" "$@" "$ROOT"
end=$(date +%s)
size=$("$ENGINE" image inspect --format '{{.Size}}' "$TAG")
echo "built $TAG with $ENGINE from ${BASE:-the default base} in $((end - start)) s; size $((size / 1000000)) MB"
if [ "$PUSH" = 1 ]; then
    "$ENGINE" push "$TAG"
fi
