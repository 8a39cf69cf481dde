/*
 * imap_notify - wake IMAP sessions when their selected folder changes
 *
 * One inotify instance per worker process serves every session of that
 * process: a session registers an imap_watcher for its folder's new/ and
 * cur/ directories, which share one kernel watch with all other sessions
 * on the same folder. An event marks every watcher of that directory
 * changed at once (read by imap_notify_poll() before a command decides
 * whether to sync) and runs its callback after a short debounce, so a
 * burst of renames (a flag change on many messages) wakes a session once.
 * Kernel limits: fs.inotify.max_user_instances bounds instances (hence
 * one per process, not per session), fs.inotify.max_user_watches bounds
 * the folders watched at once. When a watch cannot be added, the watcher
 * is left in the changed state for good, so its session syncs before
 * every command and only IDLE loses immediate updates. A queue overflow
 * marks every watcher changed.
 */
#ifndef HAPOST_IMAP_NOTIFY_H
#define HAPOST_IMAP_NOTIFY_H

#include <ev.h>
#include <stdbool.h>

struct imap_watch_dir;

struct imap_watcher {
	bool changed;	/* set by events; the session clears it */
	bool pending;	/* the callback is due after the debounce */
	bool broken;	/* no kernel watch: always treat as changed */
	void (*cb)(void *arg);
	void *arg;
	struct imap_watch_dir *dir[2];
	struct imap_watcher *next[2], *prev[2];
};

/* Debounce before callbacks run, in seconds. */
#define IMAP_NOTIFY_DEBOUNCE 0.005

/*
 * Starts watching folder_dir/new and folder_dir/cur. Returns 0, or -1
 * (logged; w->broken set) when inotify fails.
 */
int imap_notify_add(struct ev_loop *loop, struct imap_watcher *w,
		    const char *folder_dir);
void imap_notify_remove(struct imap_watcher *w);
/* Reads queued events now, so changed flags are current. */
void imap_notify_poll(void);

#endif
