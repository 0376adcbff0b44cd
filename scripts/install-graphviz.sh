#!/usr/bin/env bash
# Installs the graphviz system package (the `dot` binary) where it is missing.
# Rendering to svg/png/pdf needs it; DOT, Mermaid and JSON exports do not.
set -euo pipefail
command -v dot >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
elif command -v brew >/dev/null 2>&1; then
  brew install graphviz
elif command -v dnf >/dev/null 2>&1; then
  $SUDO dnf install -y graphviz
else
  echo "gendsl: please install graphviz (the 'dot' program) with your system's package manager" >&2
  exit 1
fi
command -v dot >/dev/null
