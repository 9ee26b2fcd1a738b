#!/usr/bin/env bash
# Thai glyphs for the satisfaction report's chart (Debian's fonts-thai-tlwg). Best effort:
# without them the chart falls back to English labels and the report stays Thai.
set -u
if command -v fc-list >/dev/null && [ -n "$(fc-list :lang=th 2>/dev/null)" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -q fonts-thai-tlwg >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q fonts-thai-tlwg >/dev/null 2>&1; }) ||
    echo "thai-fonts: could not install fonts-thai-tlwg; charts will use English labels" >&2
else
  echo "thai-fonts: install fonts-thai-tlwg for Thai chart labels" >&2
fi
exit 0
