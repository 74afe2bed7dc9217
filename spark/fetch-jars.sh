#!/usr/bin/env bash
# Fetches the Kafka source jars of the Spark job (spark/pom.xml) into $TRACEPIPE_CACHE_DIR/spark-jars
# (default: <repo>/.cache/spark-jars). Idempotent: does nothing when the directory already holds
# exactly the jars the pom lists (recorded in a stamp with the pom's checksum).
# Prints the jar directory on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache="${TRACEPIPE_CACHE_DIR:-$repo/.cache}"
dest="$cache/spark-jars"
stamp="$dest/.pom.sha256"
want="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$dest/spark-sql-kafka-0-10_*.jar" >/dev/null; then
  echo "$dest"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch-jars.sh: mvn not found (apt-get install maven)" >&2; exit 1; }
tmp="$(mktemp -d "$cache/spark-jars.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache"; mktemp -d "$cache/spark-jars.tmp.XXXXXX"; })"
trap 'rm -rf "$tmp"' EXIT
# mvn -q still prints colour escapes on this Maven: keep its output unless it fails.
if ! mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
  cat "$tmp.log" >&2
  rm -f "$tmp.log"
  exit 1
fi
rm -f "$tmp.log"
n="$(find "$tmp" -name '*.jar' | wc -l)"
if [[ "$n" -ne 4 ]]; then
  echo "fetch-jars.sh: expected 4 jars, got $n:" >&2
  ls "$tmp" >&2
  exit 1
fi
echo "$want" >"$tmp/.pom.sha256"
chmod 755 "$tmp"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest"
