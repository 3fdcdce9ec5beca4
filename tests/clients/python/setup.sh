#!/usr/bin/env bash
# Builds the Python clients the end-to-end tests drive into DEST: pymesos
# 0.3.15 (v1 HTTP APIs) and pesos 0.2.2 (the pre-1.0 libprocess messages).
#   bash tests/clients/python/setup.sh DEST
# Then point the tests at them:
#   MESOS_TEST_PYMESOS=DEST/pymesos/bin/python MESOS_TEST_PESOS=DEST/pesos/bin/python \
#     cargo test -p mesos-e2e
# Idempotent: a finished venv is detected and kept.  Needs Python 3 with
# venv and pip, a C compiler and the Python headers (Debian: python3-venv,
# python3-dev, gcc), and network access to PyPI.
# Environment: PYTHON (default python3).
set -euo pipefail
DEST="${1:?usage: setup.sh DEST}"
PY="${PYTHON:-python3}"
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"
DL="$DEST/downloads"
mkdir -p "$DL"
log() { printf '[setup] %s\n' "$*" >&2; }

venv() {  # venv NAME -> path of its python
  if [ ! -x "$DEST/$1/bin/python" ]; then
    "$PY" -m venv "$DEST/$1"
    "$DEST/$1/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  fi
  echo "$DEST/$1/bin/python"
}

# pymesos 0.3.15 needs http-parser 0.9.0, whose sdist ships a Cython-0.29-era
# parser.c that does not compile on CPython 3.11 (longintrepr.h).  We
# regenerate parser.c from the shipped parser.pyx with Cython<3 (no source
# change) and build it; pymesos itself installs unchanged.
P=$(venv pymesos)
if ! "$P" -c 'import http_parser.parser, pymesos' 2>/dev/null; then
  log "pymesos: building http-parser 0.9.0 with regenerated Cython C"
  CY=$(venv cython-build)
  "$CY" -m pip install -q 'cython<3'
  "$DEST/pymesos/bin/pip" download -q --no-deps --no-binary :all: 'http-parser==0.9.0' -d "$DL"
  rm -rf "$DL/http-parser-0.9.0"
  tar -xzf "$DL/http-parser-0.9.0.tar.gz" -C "$DL"
  rm -f "$DL"/http-parser-0.9.0/http_parser/*.so
  "$DEST/cython-build/bin/cython" "$DL/http-parser-0.9.0/http_parser/parser.pyx" \
    -o "$DL/http-parser-0.9.0/http_parser/parser.c" 2>/dev/null
  "$DEST/pymesos/bin/pip" install -q "$DL/http-parser-0.9.0"
  "$DEST/pymesos/bin/pip" install -q 'pymesos==0.3.15'
fi
"$P" -c 'import http_parser.parser, pymesos'
echo "pymesos 0.3.15 venv: $DEST/pymesos"
echo "MESOS_TEST_PYMESOS=$P"

# pesos 0.2.2 declares compactor==0.2.2, futures==2.1.6 (Python 2 only) and
# mesos.interface==0.21.1; compactor declares tornado==4.1, trollius,
# twitter.common.lang, protobuf<2.7 (Python 2 only).  The set that works on
# Python 3.11: protobuf 3.20.3 (pure-Python backend), tornado 4.1, compactor
# 0.3.0, mesos.interface 1.7.2 (only its Scheduler base class is used), all
# installed --no-deps.  pesos_compat.py (beside this script) aliases the
# collections ABCs tornado 4.1 still looks for; nothing installed is patched.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pesos_ok() {
  PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python "$1" -c \
    'import sys; sys.path.insert(0, sys.argv[1]); import pesos_compat, pesos.scheduler' "$HERE"
}
P=$(venv pesos)
if ! pesos_ok "$P" 2>/dev/null; then
  log "pesos: installing the pinned set"
  "$DEST/pesos/bin/pip" install -q 'protobuf==3.20.3' 'tornado==4.1' 'six'
  "$DEST/pesos/bin/pip" install -q --no-deps 'compactor==0.3.0' 'pesos==0.2.2' 'mesos.interface==1.7.2'
fi
pesos_ok "$P"
echo "pesos 0.2.2 venv: $DEST/pesos"
echo "MESOS_TEST_PESOS=$P"
