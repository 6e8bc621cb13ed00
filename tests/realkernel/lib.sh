# Shell helpers shared by build-kernel, vm-run and realkernel.sh (sourced).

# xw_heavy_lock: take the machine-wide lock for heavy work on fd 9, unless an
# ancestor already holds it (flock(1) leaves its fd open in the command it
# runs, and locking the file again from here would wait for ever). Whatever
# inherits fd 9 holds the lock too: start long-lived children with 9>&-.
xw_heavy_lock() {
	xw_lock=${XW_HEAVY_LOCK:-/tmp/xw-heavy.lock}
	for xw_fd in /proc/$$/fd/*; do
		[ "$(readlink "$xw_fd" 2>/dev/null)" = "$xw_lock" ] && return 0
	done
	exec 9>>"$xw_lock"
	flock 9
}

# xw_cache_dir: where build-kernel keeps images.
xw_cache_dir() {
	echo "${XW_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xe_watch/kernel}"
}
