#!/usr/bin/env bash
# Build FerretDB (MongoDB wire protocol on SQLite) into $RUAM_CACHE/bin/ferretdb.
# Idempotent: skips when the binary exists and `ferretdb --version` reports the pinned version.
#
# Why not plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`?
# The module as published lacks the generated build/version/version.txt, and a binary
# built from it panics at start-up ("Invalid build/version/version.txt file content").
# So we download the module with the Go toolchain (module proxy), copy its source into
# the cache, write version.txt, and `go install` from that copy.
#
# The copy is patched first (ferretdb-sqlite-id-index.patch): the SQLite backend looks
# documents up by `_ferretdb_sjson->'$._id'` (internal/backends/sqlite/metadata/metadata.go:30)
# while its unique index is on `_ferretdb_sjson->"_id"` (metadata/registry.go:316-320, 483),
# so SQLite never uses the index and every _id find/update/delete scans the table.
# It also pushes `{_id: {$in: [...]}}` down to SQLite (internal/backends/sqlite/collection.go,
# Query and Explain, upstream's TODO 3235), which upstream scanned for: the services read
# many aggregates by id in one request (shared.mongo.BulkReader).
# Then ferretdb-sqlite-write-lock.patch: SQLite lets one transaction write at a time and
# makes the others retry by sleeping (busy_timeout: 1, 2, 5, 10 ms ...), so concurrent
# writers left the lock idle while they slept; writers of a database now queue on a mutex
# (internal/util/fsql/db.go) and marshal their documents before taking it
# (internal/backends/sqlite/collection.go, InsertAll and UpdateAll). docs/storage.md has
# the figures.
# Then ferretdb-replace-by-id.patch: an update that replaces the one document its filter
# names by `_id` alone (internal/handler/msg_update.go, updateDocument) read that document,
# decoded it, compared it with the replacement and merged the two before writing; it is now
# written straight away (a replacement equal to the stored document counts as modified,
# where MongoDB would say 0). Anything else (operators, upsert, multi, another filter)
# takes the usual path.
# Then ferretdb-conditional-replace.patch: upstream answers a replacement whose filter names
# `_id` and `version` by reading, comparing in Go and writing by `_id` alone, so two writers
# from one version both win (internal/handler/msg_update.go). With the SQLite backend such a
# replacement ({_id, <field>: <int32 or int64>}, a plain field name) is now one
# `UPDATE ... WHERE id = ? AND json_extract(doc, '$."<field>"') = ?`, which SQLite makes
# atomic, and buildInfo says so (`ferretdbFeatures.ruamConditionalReplace`): the store then
# saves with the same compare-and-set as on MongoDB (docs/storage.md).
# The patched binary reports `package: ruam-local+id-index+in+write-lock+replace-by-id+cas`
# so a cached build without every patch is rebuilt.
set -euo pipefail

FERRETDB_VERSION="${RUAM_FERRETDB_VERSION:-v1.24.2}"
CACHE="${RUAM_CACHE:-$HOME/.cache/ruam}"
BIN_DIR="$CACHE/bin"
BIN="$BIN_DIR/ferretdb"
MODULE="github.com/FerretDB/FerretDB"
HERE="$(cd "$(dirname "$0")" && pwd)"
# The patches, in the order they apply, each with its checksum.
PATCHES=(
  "ferretdb-sqlite-id-index.patch f47b2cc8bae01f72c0673b5ad455e8958af1b104541554b6166495345d8a1085"
  "ferretdb-sqlite-write-lock.patch d8f7a57bb8179277b7a4b8438f00634f3a5c90b29050a5ecd96c9a33399ecdd6"
  "ferretdb-replace-by-id.patch 225e2d047369c2d00c566b9c1421ad62d3434d3c435ddaa6a3c6be2dc1d420d2"
  "ferretdb-conditional-replace.patch e3387511a9966d08c97775875ecb5148550b234cc088540fd63f621a343eff7c"
)
# Each file the patches change, as the pinned release has it.
PATCHED_FILES=(
  "internal/backends/sqlite/metadata/metadata.go 2a831ed534120b6adf5c819fbfc002894efe54ee03490d8526b977653e73c527"
  "internal/backends/sqlite/collection.go 7b65c249d047b4ec47d1e6833e945ac7d2613ab2ca3032c64ee526311bd04177"
  "internal/util/fsql/db.go e2f41698e31936d22764ac57403181cce666072751846454401558017db8068f"
  "internal/handler/msg_update.go 8758eeae40c6b02df7313ab10558a391adb86d2ede3fe480f7d8d5ef651ac096"
  "internal/backends/collection.go b95797a6a71412209c8627528fac8e69dd713232d23e20adeea0b2b03c973d74"
  "internal/handler/handler.go 32ff84ecca9ba2be54986c3409eb8200878f6cad4f07d46e7f43b07ab13dacdb"
  "internal/handler/msg_buildinfo.go 96fb475b03e8a573652a717bed9ebf8732e045b94e58e045daae70cdc86a9a19"
  "internal/handler/registry/sqlite.go a5827048a9b6b7722bdd6db168794cb045f0b380e1b9e78883592d05edb555d5"
)
PACKAGE="ruam-local+id-index+in+write-lock+replace-by-id+cas"

built() {
  [[ -x "$BIN" ]] || return 1
  local out
  out="$("$BIN" --version 2>/dev/null)" || return 1
  grep -q "version: $FERRETDB_VERSION\$" <<<"$out" && grep -q "package: $PACKAGE\$" <<<"$out"
}

if built; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build_ferretdb: go not found on PATH" >&2; exit 1; }

# Serialize concurrent builds (two `stack.py up` on a fresh machine).
mkdir -p "$BIN_DIR"
exec 9>"$BIN_DIR/.ferretdb-build.lock"
flock 9
if built; then
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
echo "$PACKAGE" > "$SRC/build/version/package.txt"

# The patches and the files they change must be exactly the ones they were written for.
for entry in "${PATCHES[@]}"; do
  patch_file="$HERE/${entry% *}"
  echo "${entry##* }  $patch_file" | sha256sum -c --quiet - \
    || { echo "build_ferretdb: $patch_file is not the reviewed patch" >&2; exit 1; }
done
for entry in "${PATCHED_FILES[@]}"; do
  file="${entry% *}"
  echo "${entry##* }  $SRC/$file" | sha256sum -c --quiet - \
    || { echo "build_ferretdb: $file differs from $FERRETDB_VERSION as patched" >&2; exit 1; }
done
for entry in "${PATCHES[@]}"; do
  patch -d "$SRC" -p1 --forward --quiet < "$HERE/${entry% *}"
done

echo "build_ferretdb: building (several minutes on a cold Go build cache) ..." >&2
(cd "$SRC" && GOBIN="$BIN_DIR" go install -trimpath -buildvcs=false ./cmd/ferretdb)
rm -rf "$SRC"
rmdir "$CACHE/src" 2>/dev/null || true

"$BIN" --version >&2
echo "$BIN"
