#!/bin/bash
# Install what building and testing xe_watch needs on Debian 12, as root.
# Does nothing when everything is already there.
set -euo pipefail

pkgs=(build-essential autoconf automake libtool pkg-config
	collectd-core collectd-dev libdrm-dev libudev-dev check valgrind clang-format clang libclang-rt-14-dev
	umockdev libumockdev-dev
	influxdb prometheus prometheus-alertmanager libmicrohttpd12
	libprotobuf-c1 python3 curl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "xe_watch: missing packages: ${missing[*]}" >&2
	echo "xe_watch: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "xe_watch: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
