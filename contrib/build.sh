#!/bin/bash
# Configure and build xe_watch in _build/ (out of tree), once or again.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] ||
	{ autoreconf -fi >/dev/null 2>&1 || autoreconf -fi; }
mkdir -p _build
cd _build
[ -f Makefile ] && [ Makefile -nt ../configure ] ||
	../configure --enable-werror "$@" >configure.out ||
	{ cat configure.out; exit 1; }
make -j"$(nproc)" >make.out 2>&1 || { cat make.out; exit 1; }
