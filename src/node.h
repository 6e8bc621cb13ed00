/* SPDX-License-Identifier: MIT */
/* Which node to open for a configured DRM node: never a primary node. */
#ifndef XE_WATCH_NODE_H
#define XE_WATCH_NODE_H

#include <stddef.h>

/**
 * Find the render node of the GPU behind a primary node (/dev/dri/cardN)
 * without opening it: the first opener of a primary node becomes DRM master
 * and can lock a display server out, while the watch ioctl needs only a
 * render node. Looks the node's device number up in <sysfs>/dev/char/M:m
 * (a "cardN" there is a primary node) and takes the renderD* beside it in
 * <sysfs>/dev/char/M:m/device/drm, in the card node's directory.
 *
 * Returns 1 with the render node's path in out, 0 when node is not a
 * primary node (or cannot be examined: opening it will say why), or
 * -ENOENT when it is a primary node without a render node that can be
 * found (then it must not be opened).
 */
int xw_node_render_of(const char *node, const char *sysfs, char *out,
                      size_t len);

#endif
