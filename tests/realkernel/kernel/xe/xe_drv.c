// SPDX-License-Identifier: GPL-2.0-only
/*
 * xe_watch's test driver: a DRM driver named "xe" on QEMU's edu device that
 * implements the RFC watch ioctl on the real watch queue, with debugfs
 * controls that play the GPU's side (VM errors, wedging, coredumps).
 *
 * It is not Intel's xe. Only what a watcher of xe can observe is modelled:
 * the render node, the watch ioctl and its records, fdinfo, unplug, the
 * card's WEDGED uevent and devcoredump.
 */

#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/devcoredump.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/pid.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/watch_queue.h>

#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>

#define DRIVER_NAME "xe"
#define DRIVER_DESC "xe_watch test driver (not Intel xe)"
#define DRIVER_DATE "20260301"

/* The RFC's uAPI, v1; the numbers are relative to DRM_COMMAND_BASE. */
#define XE_NR_WATCH_QUEUE_V1 0x0f
#define XE_NR_VM_GET_PROPERTY 0x0f /* drm-next took 0x0f */
#define XE_NR_VM_RESTART 0x10 /* RFC v2 */
#define XE_NR_WATCH_QUEUE_V2 0x11 /* RFC v2, inferred */

#define DRM_XE_WATCH_EVENT_VM_ERR 0

struct drm_xe_watch_queue {
	__u32 fd;
	__u32 watch_id;
	__u32 flags;
	__u32 pad;
};

struct drm_xe_watch_notification_vm_err {
	struct watch_notification base;
	__u32 vm_id;
	__s32 error_code;
};

/*
 * Stand-ins for ioctls that occupy the numbers on newer kernels: only their
 * size and their answers to a stray watch request matter here.
 */
struct xe_test_vm_get_property {
	__u32 vm_id;
	__u32 property;
	__u64 value;
};

struct xe_test_vm_restart {
	__u32 vm_id;
	__u32 flags;
};

static int xe_uapi = 1;
module_param_named(uapi, xe_uapi, int, 0444);
MODULE_PARM_DESC(uapi, "Watch ioctl revision: 1 = RFC v1 (0x0f), 2 = RFC v2 (0x11)");

struct xe_test_device {
	struct drm_device drm;
	char slot[16];
	struct list_head link; /* in xe_devices */
};

struct xe_test_file {
	struct xe_test_device *xe;
	struct drm_file *file;
	struct watch_list *watches; /* this file's watches, freed on release */
	u64 client_id;
	struct list_head link; /* in xe_files */
};

/* Devices and open files, for the debugfs controls. */
static DEFINE_MUTEX(xe_lock);
static LIST_HEAD(xe_devices);
static LIST_HEAD(xe_files);
static atomic64_t xe_next_client_id = ATOMIC64_INIT(0);
static struct dentry *xe_debugfs;

static struct xe_test_device *to_xe(struct drm_device *drm)
{
	return container_of(drm, struct xe_test_device, drm);
}

static int xe_open(struct drm_device *drm, struct drm_file *file)
{
	struct xe_test_file *xf;

	xf = kzalloc(sizeof(*xf), GFP_KERNEL);
	if (!xf)
		return -ENOMEM;
	xf->watches = kzalloc(sizeof(*xf->watches), GFP_KERNEL);
	if (!xf->watches) {
		kfree(xf);
		return -ENOMEM;
	}
	init_watch_list(xf->watches, NULL);
	xf->xe = to_xe(drm);
	xf->file = file;
	xf->client_id = atomic64_inc_return(&xe_next_client_id);
	file->driver_priv = xf;

	mutex_lock(&xe_lock);
	list_add_tail(&xf->link, &xe_files);
	mutex_unlock(&xe_lock);
	return 0;
}

/*
 * Runs on the file's final release only (the last fput of every dup), so
 * the 8-byte removal records come then and never while a fd is open.
 */
static void xe_postclose(struct drm_device *drm, struct drm_file *file)
{
	struct xe_test_file *xf = file->driver_priv;

	mutex_lock(&xe_lock);
	list_del(&xf->link);
	mutex_unlock(&xe_lock);

	/* Watch id 0 makes the removal record the short, 8-byte form. */
	remove_watch_list(xf->watches, 0);
	kfree(xf);
}

static int xe_watch_queue(struct xe_test_file *xf,
			  const struct drm_xe_watch_queue *args)
{
	struct watch_queue *wqueue;
	struct watch *watch;
	int ret;

	if (args->flags || args->pad || args->watch_id > 0xff)
		return -EINVAL;

	/* -EINVAL for a bad fd, an ordinary pipe or anything else. */
	wqueue = get_watch_queue(args->fd);
	if (IS_ERR(wqueue))
		return PTR_ERR(wqueue);

	watch = kzalloc(sizeof(*watch), GFP_KERNEL);
	if (!watch) {
		ret = -ENOMEM;
		goto out;
	}
	init_watch(watch, wqueue);
	/* Every watch of a file has id 0: a second one on the pipe is -EBUSY. */
	watch->id = 0;
	watch->info_id = args->watch_id << WATCH_INFO_ID__SHIFT;

	ret = add_watch_to_object(watch, xf->watches);
	if (ret)
		kfree(watch);
out:
	put_watch_queue(wqueue);
	return ret;
}

static int xe_ioctl_0f(struct drm_device *drm, void *data,
		       struct drm_file *file)
{
	struct xe_test_vm_get_property *prop = data;

	if (xe_uapi == 1)
		return xe_watch_queue(file->driver_priv, data);

	/* VM_GET_PROPERTY as a stray v1 watch request finds it: no VMs. */
	if (prop->property > 1 || prop->value)
		return -EINVAL;
	return -ENOENT;
}

static int xe_ioctl_vm_restart(struct drm_device *drm, void *data,
			       struct drm_file *file)
{
	struct xe_test_vm_restart *args = data;

	if (xe_uapi == 1 || args->flags)
		return -EINVAL;
	return -ENOENT;
}

static int xe_ioctl_watch_queue_v2(struct drm_device *drm, void *data,
				   struct drm_file *file)
{
	if (xe_uapi == 1)
		return -EINVAL;
	return xe_watch_queue(file->driver_priv, data);
}

#define XE_IOCTL(nr, type, fn)                                         \
	[nr] = { .cmd = type(DRM_COMMAND_BASE + (nr),                  \
			     struct drm_xe_watch_queue),               \
		 .flags = DRM_RENDER_ALLOW, .func = fn, .name = #fn }

static const struct drm_ioctl_desc xe_ioctls[] = {
	XE_IOCTL(XE_NR_VM_GET_PROPERTY, DRM_IOWR, xe_ioctl_0f),
	[XE_NR_VM_RESTART] = {
		.cmd = DRM_IOW(DRM_COMMAND_BASE + XE_NR_VM_RESTART,
			       struct xe_test_vm_restart),
		.flags = DRM_RENDER_ALLOW,
		.func = xe_ioctl_vm_restart,
		.name = "xe_ioctl_vm_restart",
	},
	XE_IOCTL(XE_NR_WATCH_QUEUE_V2, DRM_IOW, xe_ioctl_watch_queue_v2),
};

/* Linux 6.1's DRM core prints no drm-* keys (drm_show_fdinfo is 6.5). */
static void xe_show_fdinfo(struct seq_file *m, struct file *f)
{
	struct drm_file *file = f->private_data;
	struct xe_test_file *xf = file->driver_priv;

	seq_printf(m, "drm-driver:\t%s\n", DRIVER_NAME);
	seq_printf(m, "drm-client-id:\t%llu\n", xf->client_id);
	seq_printf(m, "drm-pdev:\t%s\n", xf->xe->slot);
}

static const struct file_operations xe_fops = {
	.owner = THIS_MODULE,
	.open = drm_open,
	.release = drm_release,
	.unlocked_ioctl = drm_ioctl,
	.compat_ioctl = drm_compat_ioctl,
	.poll = drm_poll,
	.read = drm_read,
	.llseek = noop_llseek,
	.mmap = drm_gem_mmap,
	.show_fdinfo = xe_show_fdinfo,
};

static const struct drm_driver xe_driver = {
	.driver_features = DRIVER_GEM | DRIVER_RENDER,
	.open = xe_open,
	.postclose = xe_postclose,
	.ioctls = xe_ioctls,
	.num_ioctls = ARRAY_SIZE(xe_ioctls),
	.fops = &xe_fops,
	.name = DRIVER_NAME,
	.desc = DRIVER_DESC,
	.date = DRIVER_DATE,
	.major = 1,
	.minor = 0,
};

static int xe_pci_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct xe_test_device *xe;
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;

	xe = devm_drm_dev_alloc(&pdev->dev, &xe_driver, struct xe_test_device,
				drm);
	if (IS_ERR(xe))
		return PTR_ERR(xe);
	strscpy(xe->slot, pci_name(pdev), sizeof(xe->slot));
	pci_set_drvdata(pdev, xe);

	ret = drm_dev_register(&xe->drm, 0);
	if (ret)
		return ret;

	mutex_lock(&xe_lock);
	list_add_tail(&xe->link, &xe_devices);
	mutex_unlock(&xe_lock);
	return 0;
}

/* As xe does: open files stay, later ioctls on them give -ENODEV. */
static void xe_pci_remove(struct pci_dev *pdev)
{
	struct xe_test_device *xe = pci_get_drvdata(pdev);

	mutex_lock(&xe_lock);
	list_del(&xe->link);
	mutex_unlock(&xe_lock);
	drm_dev_unplug(&xe->drm);
}

static const struct pci_device_id xe_pci_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) }, /* QEMU edu */
	{}
};
MODULE_DEVICE_TABLE(pci, xe_pci_ids);

static struct pci_driver xe_pci_driver = {
	.name = DRIVER_NAME,
	.id_table = xe_pci_ids,
	.probe = xe_pci_probe,
	.remove = xe_pci_remove,
};

/* debugfs controls: one command per write, "<target> ..." */

enum xe_target_kind { XE_TARGET_CLIENT, XE_TARGET_PID };

struct xe_target {
	enum xe_target_kind kind;
	u64 id;
};

static int xe_parse_target(const char *word, struct xe_target *t)
{
	if (!strncmp(word, "client:", 7)) {
		t->kind = XE_TARGET_CLIENT;
		return kstrtou64(word + 7, 0, &t->id);
	}
	if (!strncmp(word, "pid:", 4)) {
		t->kind = XE_TARGET_PID;
		return kstrtou64(word + 4, 0, &t->id);
	}
	return -EINVAL;
}

static bool xe_target_matches(const struct xe_target *t,
			      const struct xe_test_file *xf)
{
	if (t->kind == XE_TARGET_CLIENT)
		return xf->client_id == t->id;
	return pid_nr(xf->file->pid) == t->id;
}

/*
 * Posts @n to every open file @t names on a device still plugged in;
 * -ENOENT when there is none.
 */
static int xe_post(const struct xe_target *t, struct watch_notification *n,
		   unsigned int count)
{
	struct xe_test_file *xf;
	int found = 0;
	unsigned int i;

	mutex_lock(&xe_lock);
	list_for_each_entry(xf, &xe_files, link) {
		if (!xe_target_matches(t, xf) ||
		    drm_dev_is_unplugged(&xf->xe->drm))
			continue;
		found++;
		for (i = 0; i < count; i++)
			post_watch_notification(xf->watches, n, current_cred(),
						0);
	}
	mutex_unlock(&xe_lock);
	return found ? 0 : -ENOENT;
}

/* Copies a user line into @buf and splits it into at most @max words. */
static int xe_read_words(const char __user *ubuf, size_t len, char *buf,
			 size_t size, char **words, int max)
{
	char *p;
	int n = 0;

	if (len >= size)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	p = strim(buf);
	while (p && *p && n < max) {
		words[n++] = strsep(&p, " \t\n");
		p = p ? skip_spaces(p) : NULL;
	}
	if (p && *p)
		return -E2BIG;
	return n;
}

static ssize_t xe_vm_err_write(struct file *f, const char __user *ubuf,
			       size_t len, loff_t *pos)
{
	struct drm_xe_watch_notification_vm_err n = {};
	struct xe_target t;
	char buf[128], *w[4];
	u32 vm_id, count = 1;
	s32 error_code;
	int nw, ret;

	nw = xe_read_words(ubuf, len, buf, sizeof(buf), w, ARRAY_SIZE(w));
	if (nw < 0)
		return nw;
	if (nw < 3)
		return -EINVAL;
	ret = xe_parse_target(w[0], &t);
	if (!ret)
		ret = kstrtou32(w[1], 0, &vm_id);
	if (!ret)
		ret = kstrtos32(w[2], 0, &error_code);
	if (!ret && nw == 4)
		ret = kstrtou32(w[3], 0, &count);
	if (ret)
		return ret;

	n.base.type = WATCH_TYPE_DRM_XE_NOTIFY;
	n.base.subtype = DRM_XE_WATCH_EVENT_VM_ERR;
	n.base.info = watch_sizeof(n);
	n.vm_id = vm_id;
	n.error_code = error_code;
	ret = xe_post(&t, &n.base, count);
	return ret ? ret : len;
}

static ssize_t xe_unknown_write(struct file *f, const char __user *ubuf,
				size_t len, loff_t *pos)
{
	/* A record of the xe type with a subtype the watcher cannot know. */
	struct drm_xe_watch_notification_vm_err n = {};
	struct xe_target t;
	char buf[128], *w[2];
	u8 subtype;
	int nw, ret;

	nw = xe_read_words(ubuf, len, buf, sizeof(buf), w, ARRAY_SIZE(w));
	if (nw < 0)
		return nw;
	if (nw != 2)
		return -EINVAL;
	ret = xe_parse_target(w[0], &t);
	if (!ret)
		ret = kstrtou8(w[1], 0, &subtype);
	if (ret)
		return ret;

	n.base.type = WATCH_TYPE_DRM_XE_NOTIFY;
	n.base.subtype = subtype;
	n.base.info = watch_sizeof(n);
	ret = xe_post(&t, &n.base, 1);
	return ret ? ret : len;
}

/* Finds a plugged-in device by PCI slot; the caller holds xe_lock. */
static struct xe_test_device *xe_find_device(const char *slot)
{
	struct xe_test_device *xe;

	list_for_each_entry(xe, &xe_devices, link)
		if (!strcmp(xe->slot, slot))
			return xe;
	return NULL;
}

static ssize_t xe_wedged_write(struct file *f, const char __user *ubuf,
			       size_t len, loff_t *pos)
{
	struct xe_test_device *xe;
	char buf[128], *w[2], event[64];
	char *envp[] = { event, NULL };
	int nw, ret = -ENODEV;

	nw = xe_read_words(ubuf, len, buf, sizeof(buf), w, ARRAY_SIZE(w));
	if (nw < 0)
		return nw;
	if (nw != 2)
		return -EINVAL;
	snprintf(event, sizeof(event), "WEDGED=%s", w[1]);

	/* As drm_dev_wedged_event() (Linux 6.15): a change on the card. */
	mutex_lock(&xe_lock);
	xe = xe_find_device(w[0]);
	if (xe)
		ret = kobject_uevent_env(&xe->drm.primary->kdev->kobj,
					 KOBJ_CHANGE, envp);
	mutex_unlock(&xe_lock);
	return ret ? ret : len;
}

static ssize_t xe_coredump_write(struct file *f, const char __user *ubuf,
				 size_t len, loff_t *pos)
{
	static const char dump[] = "xe_watch test driver coredump\n";
	struct xe_test_device *xe;
	char buf[64], *w[1];
	void *data;
	int nw, ret = -ENODEV;

	nw = xe_read_words(ubuf, len, buf, sizeof(buf), w, ARRAY_SIZE(w));
	if (nw < 0)
		return nw;
	if (nw != 1)
		return -EINVAL;

	mutex_lock(&xe_lock);
	xe = xe_find_device(w[0]);
	if (xe) {
		/* devcoredump frees the data with vfree(). */
		data = vmalloc(sizeof(dump));
		if (data) {
			memcpy(data, dump, sizeof(dump));
			dev_coredumpv(xe->drm.dev, data, sizeof(dump),
				      GFP_KERNEL);
			ret = 0;
		} else {
			ret = -ENOMEM;
		}
	}
	mutex_unlock(&xe_lock);
	return ret ? ret : len;
}

static int xe_clients_show(struct seq_file *m, void *unused)
{
	struct xe_test_file *xf;

	mutex_lock(&xe_lock);
	list_for_each_entry(xf, &xe_files, link)
		seq_printf(m, "%llu %d %s\n", xf->client_id,
			   pid_nr(xf->file->pid), xf->xe->slot);
	mutex_unlock(&xe_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(xe_clients);

#define XE_WRITE_FOPS(name)                                   \
	static const struct file_operations name##_fops = {   \
		.owner = THIS_MODULE,                         \
		.open = simple_open,                          \
		.write = name##_write,                        \
		.llseek = no_llseek,                          \
	}

XE_WRITE_FOPS(xe_vm_err);
XE_WRITE_FOPS(xe_unknown);
XE_WRITE_FOPS(xe_wedged);
XE_WRITE_FOPS(xe_coredump);

static int __init xe_init(void)
{
	int ret;

	if (xe_uapi != 1 && xe_uapi != 2) {
		pr_err("xe: uapi=%d, expected 1 or 2\n", xe_uapi);
		return -EINVAL;
	}
	xe_debugfs = debugfs_create_dir("xe_test", NULL);
	debugfs_create_file("vm_err", 0200, xe_debugfs, NULL, &xe_vm_err_fops);
	debugfs_create_file("unknown", 0200, xe_debugfs, NULL,
			    &xe_unknown_fops);
	debugfs_create_file("wedged", 0200, xe_debugfs, NULL, &xe_wedged_fops);
	debugfs_create_file("coredump", 0200, xe_debugfs, NULL,
			    &xe_coredump_fops);
	debugfs_create_file("clients", 0444, xe_debugfs, NULL,
			    &xe_clients_fops);

	ret = pci_register_driver(&xe_pci_driver);
	if (ret)
		debugfs_remove_recursive(xe_debugfs);
	return ret;
}

static void __exit xe_exit(void)
{
	pci_unregister_driver(&xe_pci_driver);
	debugfs_remove_recursive(xe_debugfs);
}

module_init(xe_init);
module_exit(xe_exit);

MODULE_DESCRIPTION(DRIVER_DESC);
MODULE_LICENSE("GPL");
