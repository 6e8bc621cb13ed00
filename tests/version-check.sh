#!/bin/bash
# One version everywhere: AC_INIT (configure.ac), debian/changelog, NEWS.
set -u
src=${XW_SRCDIR:?run through make check}
ac=${XW_VERSION:-$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$src/configure.ac")}
deb=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$src/debian/changelog")
news=$(sed -n '1s/^xe_watch \([^ ]*\) .*/\1/p' "$src/NEWS")
passed=0 failed=0
check() {
	if [ "$2" = "$3" ]; then
		echo "ok - $1 ($2)"; passed=$((passed + 1))
	else
		echo "not ok - $1: '$2' vs '$3'"; failed=$((failed + 1))
	fi
}
check "debian/changelog's top entry is configure.ac's version" "$deb" "$ac"
check "NEWS's top section is configure.ac's version" "$news" "$ac"
# Every release NEWS lists has its debian/changelog entry.
for v in $(sed -n 's/^xe_watch \([0-9][^ ]*\) .*/\1/p' "$src/NEWS"); do
	grep -q "^[^ ]* ($v) " "$src/debian/changelog" && r=$v || r="no entry"
	check "debian/changelog has an entry for NEWS's $v" "$r" "$v"
done
echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
