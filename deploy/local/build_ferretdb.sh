#!/usr/bin/env bash
# Build FerretDB (MongoDB wire protocol on SQLite) into $RUAM_CACHE/bin/ferretdb.
# Idempotent: skips when the binary exists and `ferretdb --version` reports the pinned version.
#
# Why not plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`?
# The module as published lacks the generated build/version/version.txt, and a binary
# built from it panics at start-up ("Invalid build/version/version.txt file content").
# So we download the module with the Go toolchain (module proxy), copy its source into
# the cache, write version.txt, and `go install` from that copy.
set -euo pipefail

FERRETDB_VERSION="${RUAM_FERRETDB_VERSION:-v1.24.2}"
CACHE="${RUAM_CACHE:-$HOME/.cache/ruam}"
BIN_DIR="$CACHE/bin"
BIN="$BIN_DIR/ferretdb"
MODULE="github.com/FerretDB/FerretDB"

if [[ -x "$BIN" ]] && "$BIN" --version 2>/dev/null | grep -q "version: $FERRETDB_VERSION\$"; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build_ferretdb: go not found on PATH" >&2; exit 1; }

# Serialize concurrent builds (two `stack.py up` on a fresh machine).
mkdir -p "$BIN_DIR"
exec 9>"$BIN_DIR/.ferretdb-build.lock"
flock 9
if [[ -x "$BIN" ]] && "$BIN" --version 2>/dev/null | grep -q "version: $FERRETDB_VERSION\$"; then
  echo "$BIN"
  exit 0
fi

echo "build_ferretdb: downloading $MODULE@$FERRETDB_VERSION ..." >&2
TMP_MOD="$(mktemp -d)"
trap 'rm -rf "$TMP_MOD"' EXIT
MOD_DIR="$(cd "$TMP_MOD" && GO111MODULE=on GOFLAGS=-mod=mod go mod download -json "$MODULE@$FERRETDB_VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$MOD_DIR" && -d "$MOD_DIR" ]] || { echo "build_ferretdb: go mod download failed" >&2; exit 1; }

SRC="$CACHE/src/ferretdb-$FERRETDB_VERSION"
rm -rf "$SRC"
mkdir -p "$(dirname "$SRC")"
cp -r "$MOD_DIR" "$SRC"
chmod -R u+w "$SRC"
echo "$FERRETDB_VERSION" > "$SRC/build/version/version.txt"
echo "ruam-local" > "$SRC/build/version/package.txt"

echo "build_ferretdb: building (several minutes on a cold Go build cache) ..." >&2
(cd "$SRC" && GOBIN="$BIN_DIR" go install -trimpath -buildvcs=false ./cmd/ferretdb)
rm -rf "$SRC"
rmdir "$CACHE/src" 2>/dev/null || true

"$BIN" --version >&2
echo "$BIN"
