#!/usr/bin/env bash
# Make a local stand-in for the Dockerfile's base image, python:3.11-slim, from Debian's packages,
# where the image cannot be pulled (tests/test_docker.py runs this).
#
# usage: scripts/docker_base_image.sh [TAG]
#   TAG  the tag given to the stand-in (python:3.11-slim); an image already there is kept as it is
#
# The stand-in is Debian bookworm (debootstrap --variant=minbase) with python3, python3-venv and
# ca-certificates, the paths of the official image (/usr/local/bin/python3.11, python3, python; PATH,
# LANG, CMD), this machine's CA bundle and an /etc/pip.conf that names it (so that pip inside the build
# trusts the same package index as this machine), and apt sources on this machine's Debian mirror
# (the builder stage runs apt-get). Its root file system is kept as a tarball in the cache folder
# (SEMSEARCH_DOCKER_CACHE, default ~/.cache/semsearch-docker): a new image is imported from it without
# running debootstrap again. Needs root, debootstrap and a Docker engine.
#   DEBIAN_MIRROR  the mirror; default: the first bookworm source of /etc/apt, else http://deb.debian.org/debian
set -euo pipefail

tag=${1:-python:3.11-slim}
suite=bookworm
cache=${SEMSEARCH_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/semsearch-docker}
tarball=$cache/$suite-python3-rootfs.tar
marker=org.semsearch.base-stand-in

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "docker_base_image: $tag is there already" >&2
    exit 0
fi

# The mirror this machine's apt uses: a deb822 .sources file (URIs: + Suites: bookworm) or a one-line `deb` entry.
machine_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$suite" '
            /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri = ""; ok = 0; next }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { if (uri != "" && ok) print uri }' "$f" | head -n 1
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk -v suite="$suite" '$1 == "deb" { for (i = 2; i < NF; i++) if ($(i + 1) == suite && $i !~ /^\[/) { print $i; exit } }'
    return 0
}

if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "docker_base_image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    mirror=${DEBIAN_MIRROR:-$(machine_mirror 2>/dev/null | head -n 1 || true)}
    mirror=${mirror:-http://deb.debian.org/debian}
    mkdir -p "$cache"
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    cleanup() {
        # debootstrap mounts /proc and /sys in the target, and in a container binds /dev nodes there: unmount
        # whatever a failed run left, and never delete across a mount
        awk -v root="$rootfs/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
        rm -rf --one-file-system "$rootfs" "$tarball.part"
    }
    trap cleanup EXIT
    echo "docker_base_image: debootstrap $suite from $mirror (a few minutes)" >&2
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$suite" "$rootfs" "$mirror" >&2
    # the paths of the official image, whose python lives in /usr/local
    for name in python3.11 python3 python; do ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/$name"; done
    # this machine's CA bundle (it may trust a local proxy of the package index), named for pip as here
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
    printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$suite" "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/* "$rootfs"/var/log/*.log
    tar --numeric-owner -C "$rootfs" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
fi

docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL $marker=$suite" \
    --change 'CMD ["python3"]' \
    "$tarball" "$tag" >/dev/null
echo "docker_base_image: $tag imported from $tarball" >&2
