#!/usr/bin/env bash
# Builds the container image of deploy/container/Containerfile: a statically linked
# `switchboard` (glibc with crt-static, into a target folder of its own, target/static, kept
# between runs), then `podman build` FROM scratch with that binary alone.
#
#   deploy/container/build.sh [--profile release|dev] [--tag IMAGE]
#
# --profile: Cargo's profile (default release; the tests take container-test, the cheapest to
# build: Cargo.toml).
# --tag: the image's name (default localhost/switchboard:VERSION, the name the Kubernetes
# manifests run).
#
# The explicit --target makes RUSTFLAGS apply to the binary only, so build scripts and proc
# macros stay dynamic. The linker warns that getaddrinfo in a static binary needs glibc's NSS
# modules at run time: since glibc 2.34 the `files` and `dns` sources are part of libc itself,
# which is all a container has (/etc/hosts, /etc/resolv.conf); the e2e test resolves a name
# inside the container (tests/e2e/container.rs).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
profile=release
tag=
while (($#)); do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "usage: $0 [--profile release|dev] [--tag IMAGE]" >&2; exit 2 ;;
  esac
done
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n 1)"
tag="${tag:-localhost/switchboard:$version}"
target=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="$repo/target/static"
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --manifest-path "$repo/Cargo.toml" --locked -p switchboard --bin switchboard \
  --target "$target" --profile "$profile"
# Cargo's folder of the dev profile is `debug`.
folder="$profile"
[[ $profile == dev ]] && folder=debug
binary="$CARGO_TARGET_DIR/$target/$folder/switchboard"
if ! ldd "$binary" 2>&1 | grep -Eq 'statically linked|not a dynamic executable'; then
  echo "$binary is not statically linked" >&2
  exit 1
fi

# The build context: the binary and the data folder's mode (0700: the volume takes it).
context="$CARGO_TARGET_DIR/image-context"
rm -rf "$context"
mkdir -p "$context"
cp "$binary" "$context/switchboard"
install -d -m 0700 "$context/data"
podman build --quiet --file "$repo/deploy/container/Containerfile" --tag "$tag" "$context"
echo "built $tag"
