/*
 * imap_cache - FETCH response data kept by a worker: ENVELOPE, BODY and
 * BODYSTRUCTURE of messages its sessions fetched before
 *
 * A message file in a Maildir never changes after delivery (only its
 * name does, when flags change), so this data depends on the message
 * alone. They are kept per (folder directory, UIDVALIDITY, UID) in one
 * process-wide table, shared by all sessions of the worker, and bounded
 * by a byte budget (imap_cache_size), and the least recently used entries
 * go first. When a folder shows up with another UIDVALIDITY, all entries of
 * that folder are dropped, because its UIDs may now name other messages.
 *
 * Limits: the cache lives in the worker's memory only; a new worker or a
 * restart starts empty, and each worker fills its own.
 */
#ifndef HAPOST_IMAP_CACHE_H
#define HAPOST_IMAP_CACHE_H

#include <stddef.h>
#include <stdint.h>

enum imap_cache_kind {
	IMAP_CACHE_ENVELOPE,
	IMAP_CACHE_BODY,
	IMAP_CACHE_BODYSTRUCTURE,
	IMAP_CACHE_KINDS
};

/* A folder as the cache knows it; fill with imap_cache_folder_init. */
struct imap_cache_folder_ref {
	const char *dir;
	size_t hash;
	uint32_t uidvalidity;
};

void imap_cache_folder_init(struct imap_cache_folder_ref *f,
			    const char *dir, uint32_t uidvalidity);
/* Sets the byte budget; a smaller one evicts at once, 0 empties the
 * cache and turns it off. */
void imap_cache_set_budget(size_t bytes);
/* Returns the cached data (len bytes, not NUL-terminated) or NULL. The
 * pointer stays valid until the next imap_cache_put or budget change. */
const char *imap_cache_get(const struct imap_cache_folder_ref *f,
			   uint32_t uid, enum imap_cache_kind kind,
			   size_t *len);
/* Stores data, replacing an older entry, or does nothing when it does
 * not fit the budget. */
void imap_cache_put(const struct imap_cache_folder_ref *f, uint32_t uid,
		    enum imap_cache_kind kind, const char *data, size_t len);
/* Bytes in use and entries held, for tests and logs. */
size_t imap_cache_bytes(void);
size_t imap_cache_entries(void);

#endif
