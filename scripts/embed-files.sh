#!/bin/sh
# Writes a Swift file with one raw string constant per input file (used by ConsoleAssetsPlugin
# to put the admin console's files into the binary):
#   scripts/embed-files.sh OUTPUT.swift ENUM FILE...
# `console.js` becomes `ENUM.consoleJS`. A file containing a backslash followed by '#', or three
# double quotes followed by '#', would end or escape the literal: it fails with its name.
set -eu
out=$1
type=$2
shift 2
{
  printf '/// Files embedded by scripts/embed-files.sh (do not edit: edit the files).\n'
  printf 'enum %s {\n' "$type"
  for file in "$@"; do
    if grep -q -e '\\#' -e '"""#' "$file"; then
      echo "error: $file contains \\# or \"\"\"#, which cannot be embedded in a raw string" >&2
      exit 1
    fi
    base=$(basename "$file")
    name=$(printf '%s' "$base" | awk -F. '{ s = $1; for (i = 2; i <= NF; i++) s = s toupper($i); print s }')
    printf '    /// `%s`.\n    static let %s = #"""\n' "$base" "$name"
    cat "$file"
    printf '\n"""#\n'
  done
  printf '}\n'
} > "$out.tmp"
mv "$out.tmp" "$out"
