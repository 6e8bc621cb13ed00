#!/bin/bash
# Install the Debian 12 packages one purpose of xe_watch needs, as root:
#   contrib/install-deps.sh build   the plugin: ./configure && make
#   contrib/install-deps.sh demo    contrib/demo.sh (build + collectd; no server)
#   contrib/install-deps.sh test    contrib/run-tests.sh (demo + test tools and
#                                   the servers the end-to-end tests start
#                                   themselves, left disabled and stopped)
# Does nothing when everything is already there.
set -euo pipefail

build=(build-essential autoconf automake libtool pkgconf
	collectd-dev libdrm-dev libudev-dev)
demo=("${build[@]}" collectd-core)
test=("${demo[@]}"
	# make check: unit suites, udev tests, format, valgrind
	check umockdev libumockdev-dev valgrind clang-format
	# sanitizer and fuzzing stages of contrib/run-tests.sh
	clang libclang-rt-14-dev
	# end-to-end tests: they start these servers on loopback themselves
	influxdb prometheus prometheus-alertmanager libmicrohttpd12
	libprotobuf-c1 python3 curl
	# real-kernel tests (QEMU)
	qemu-system-x86 linux-source-6.1 busybox-static bc flex bison libelf-dev
	libssl-dev cpio xz-utils udev
	# package test (contrib/package-test.sh)
	debhelper lintian debootstrap)
# The servers of the test set: never left enabled or running as services.
test_services=(influxdb prometheus prometheus-alertmanager)

purpose=${1:-}
case $purpose in
build) pkgs=("${build[@]}") ;;
demo) pkgs=("${demo[@]}") ;;
test) pkgs=("${test[@]}") ;;
*)
	echo "usage: $0 build|demo|test" >&2
	exit 2
	;;
esac

# Debian's packages enable and start their daemons on installation; the
# end-to-end tests run their own on loopback. Disable and stop the system
# units, whether this run installed them or an earlier one did.
quiet_services() {
	local s
	for s in "${test_services[@]}"; do
		dpkg-query -W -f='${Status}' "$s" 2>/dev/null | grep -q "ok installed" || continue
		if [ -f "/lib/systemd/system/$s.service" ]; then
			deb-systemd-helper disable "$s.service" >/dev/null 2>&1 || true
			if [ -d /run/systemd/system ]; then
				systemctl disable --now "$s.service" >/dev/null 2>&1 || true
			fi
		fi
		if [ -x "/etc/init.d/$s" ]; then
			update-rc.d "$s" disable >/dev/null 2>&1 || true
			[ -d /run/systemd/system ] || "/etc/init.d/$s" stop >/dev/null 2>&1 || true
		fi
	done
}

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "xe_watch: missing packages: ${missing[*]}" >&2
		echo "xe_watch: run as root, or: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
	echo "xe_watch: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# No daemon starts during the installation (invoke-rc.d asks policy-rc.d);
	# an existing policy (a container's) stays as it was.
	policy=/usr/sbin/policy-rc.d
	own_policy=0
	if [ ! -e $policy ]; then
		printf '#!/bin/sh\n# xe_watch install-deps: no daemon starts while it installs.\nexit 101\n' >$policy
		chmod 755 $policy
		own_policy=1
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	[ $own_policy = 0 ] || { rm -f $policy; trap - EXIT; }
fi
if [ "$purpose" = test ] && [ "$(id -u)" -eq 0 ]; then
	quiet_services
	for s in "${test_services[@]}"; do
		[ -f "/lib/systemd/system/$s.service" ] || continue
		if [ "$(systemctl is-enabled "$s.service" 2>/dev/null)" = enabled ] ||
			systemctl is-active -q "$s.service" 2>/dev/null; then
			echo "xe_watch: $s is still enabled or running as a system service" >&2
			exit 1
		fi
	done
fi
