/*
 * imap_notify - wake IMAP sessions when their selected folder changes
 *
 * The process keeps one inotify fd, a table of watched directories (one
 * per kernel watch descriptor) and, per directory, a list of watchers.
 * Slot 0 of a watcher is its new/ directory, slot 1 its cur/.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "imap_notify.h"
#include "log.h"
#include "xalloc.h"

#define WATCH_MASK                                                             \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |                 \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct imap_watch_dir {
	int wd;
	unsigned users;
	struct imap_watcher *first;
	struct imap_watch_dir *next_dir;
};

static int notify_fd = -1;
static struct ev_loop *notify_loop;
static ev_io notify_io;
static ev_timer notify_timer;
static struct imap_watch_dir *dirs;
/* Watchers whose slot lists are being walked cannot be freed meanwhile:
 * callbacks run from a snapshot of pending flags instead. */
static void notify_read(void);

static void
notify_mark(struct imap_watcher *w)
{
	w->changed = true;
	if (w->cb != NULL && !w->pending) {
		w->pending = true;
		if (!ev_is_active(&notify_timer))
			ev_timer_start(notify_loop, &notify_timer);
	}
}

static void
mark_dir(struct imap_watch_dir *d)
{
	struct imap_watcher *w;
	int slot;

	for (w = d->first; w != NULL; w = w->next[slot]) {
		slot = w->dir[0] == d ? 0 : 1;
		notify_mark(w);
	}
}

static void
mark_all(void)
{
	struct imap_watch_dir *d;

	for (d = dirs; d != NULL; d = d->next_dir)
		mark_dir(d);
}

static struct imap_watch_dir *
find_dir(int wd)
{
	struct imap_watch_dir *d;

	for (d = dirs; d != NULL; d = d->next_dir)
		if (d->wd == wd)
			return d;
	return NULL;
}

static void
notify_read(void)
{
	char ev_buf[4096] __attribute__((aligned(__alignof__(struct
							     inotify_event))));

	if (notify_fd < 0)
		return;
	for (;;) {
		ssize_t n = read(notify_fd, ev_buf, sizeof(ev_buf));
		char *p;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (p = ev_buf; p < ev_buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			struct imap_watch_dir *d;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				mark_all();
				continue;
			}
			d = find_dir(ev->wd);
			if (d != NULL)
				mark_dir(d);
		}
	}
}

static void
notify_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	notify_read();
}

/* Runs the callbacks of watchers marked pending, one at a time, looking
 * the next one up again after each because a callback may remove
 * watchers (a session that closes). */
static void
notify_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	for (;;) {
		struct imap_watch_dir *d;
		struct imap_watcher *found = NULL, *w;
		int slot;

		for (d = dirs; d != NULL && found == NULL; d = d->next_dir) {
			for (w = d->first; w != NULL; w = w->next[slot]) {
				slot = w->dir[0] == d ? 0 : 1;
				if (w->pending) {
					found = w;
					break;
				}
			}
		}
		if (found == NULL)
			return;
		found->pending = false;
		found->cb(found->arg);
	}
}

static int
notify_init(struct ev_loop *loop)
{
	if (notify_fd >= 0)
		return 0;
	notify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (notify_fd < 0) {
		log_error("imap: inotify_init1() failed: %m");
		return -1;
	}
	notify_loop = loop;
	ev_io_init(&notify_io, notify_io_cb, notify_fd, EV_READ);
	ev_io_start(loop, &notify_io);
	ev_timer_init(&notify_timer, notify_timer_cb, IMAP_NOTIFY_DEBOUNCE, 0.);
	/* The watcher must not keep the loop alive on its own. */
	ev_unref(loop);
	return 0;
}

static void
dir_unlink(struct imap_watcher *w, int slot)
{
	struct imap_watch_dir *d = w->dir[slot], **pp;

	if (d == NULL)
		return;
	if (w->prev[slot] != NULL)
		w->prev[slot]->next[w->prev[slot]->dir[0] == d ? 0 : 1] =
			w->next[slot];
	else
		d->first = w->next[slot];
	if (w->next[slot] != NULL)
		w->next[slot]->prev[w->next[slot]->dir[0] == d ? 0 : 1] =
			w->prev[slot];
	w->dir[slot] = NULL;
	w->next[slot] = w->prev[slot] = NULL;
	if (--d->users > 0)
		return;
	inotify_rm_watch(notify_fd, d->wd);
	for (pp = &dirs; *pp != NULL; pp = &(*pp)->next_dir) {
		if (*pp == d) {
			*pp = d->next_dir;
			break;
		}
	}
	free(d);
}

static int
dir_link(struct imap_watcher *w, int slot, const char *path)
{
	struct imap_watch_dir *d;
	int wd = inotify_add_watch(notify_fd, path, WATCH_MASK);

	if (wd < 0) {
		log_error("imap: inotify_add_watch(%s) failed: %m", path);
		return -1;
	}
	d = find_dir(wd);
	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->wd = wd;
		d->next_dir = dirs;
		dirs = d;
	}
	d->users++;
	w->dir[slot] = d;
	w->prev[slot] = NULL;
	w->next[slot] = d->first;
	if (d->first != NULL)
		d->first->prev[d->first->dir[0] == d ? 0 : 1] = w;
	d->first = w;
	return 0;
}

int
imap_notify_add(struct ev_loop *loop, struct imap_watcher *w,
		const char *folder_dir)
{
	static const char *const sub[2] = {"new", "cur"};
	char path[PATH_MAX];
	int slot;

	w->changed = true;
	w->pending = false;
	w->broken = false;
	w->dir[0] = w->dir[1] = NULL;
	if (notify_init(loop) < 0) {
		w->broken = true;
		return -1;
	}
	for (slot = 0; slot < 2; slot++) {
		snprintf(path, sizeof(path), "%s/%s", folder_dir, sub[slot]);
		if (dir_link(w, slot, path) < 0) {
			imap_notify_remove(w);
			w->broken = true;
			w->changed = true;
			return -1;
		}
	}
	return 0;
}

void
imap_notify_remove(struct imap_watcher *w)
{
	dir_unlink(w, 0);
	dir_unlink(w, 1);
	w->pending = false;
}

void
imap_notify_poll(void)
{
	notify_read();
}
