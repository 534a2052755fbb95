#!/usr/bin/env bash
# Builds one FROM-scratch image from a static executable: lays out the image's files in a
# staging folder (the build context) and runs Docker where an engine answers, else buildah.
# Used by `make images` and by tests/tests/image.rs.
#
# Usage: build-image.sh DOCKERFILE EXECUTABLE TAG [--data-dir]
#   --data-dir   add the runtime's /var/lib/ferry, owned by the non-root user
# IMAGE_BUILDER=docker|buildah picks the tool instead of asking Docker first.
set -euo pipefail
dockerfile=$1
executable=$2
tag=$3
data_dir=${4:-}

builder=${IMAGE_BUILDER:-}
if [ -z "$builder" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    builder=docker
  elif command -v buildah >/dev/null; then
    builder=buildah
  else
    echo "build-image.sh: neither a Docker engine nor buildah (apt-get install buildah)" >&2
    exit 1
  fi
fi
# A program interpreter (ld.so) in the headers means shared libraries the image lacks.
if readelf -l "$executable" | grep -q "program interpreter"; then
  echo "build-image.sh: $executable is dynamically linked; a FROM scratch image needs a static one" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$stage/data"
chmod 1777 "$root/tmp"
# Stripped: the release profile keeps function names for profiling, an image needs none.
strip -o "$root/$(basename "$executable")" "$executable"
# The non-root user by name too, for tools that look it up (as distroless has it).
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
# Root certificates for TLS to the API server's peers and brokers; the build host's.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
[ "$data_dir" = --data-dir ] || rmdir "$stage/data"
if [ "$data_dir" != --data-dir ] && grep -q "^COPY .*data/" "$dockerfile"; then
  echo "build-image.sh: $dockerfile copies data/: pass --data-dir" >&2
  exit 1
fi

case $builder in
  docker) docker build -q -f "$dockerfile" -t "$tag" "$stage" ;;
  buildah) buildah build -q --layers=false -f "$dockerfile" -t "$tag" "$stage" ;;
  *) echo "build-image.sh: unknown IMAGE_BUILDER $builder" >&2; exit 1 ;;
esac
echo "built $tag with $builder"
