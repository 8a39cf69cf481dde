/*
 * maildir_snap - message arrays shared by the open mailboxes of a process
 *
 * A protocol worker often serves thousands of sessions that selected the
 * same folder (many clients of one account, or one shared folder), and
 * every session used to keep its own copy of the folder's message array.
 * Now a mailbox's array lives in a refcounted snapshot. After each sync
 * the new array is compared with the snapshot last registered for the
 * same folder directory in this process; when they are equal (same UIDs,
 * file names, sizes and dates) the mailbox drops its copy and takes a
 * reference to the registered one, so idle sessions of one folder share
 * one array. When they differ, the mailbox's array becomes the registered
 * one. Equality is always checked, so a registered snapshot that no
 * longer matches the disk only costs a failed comparison.
 *
 * Snapshots are immutable while shared: a mailbox that changes a message
 * record (a flag change, a file found under a new name) first takes a
 * private copy (maildir_snap_own). Everything a session alone may know
 * stays in struct mailbox: \Recent is a list of UIDs there, and the
 * changes a sync reports are computed against the session's own previous
 * snapshot. So RFC 3501's per-session view holds: a session's sequence
 * numbers change only through its own syncs.
 *
 * Cost: one comparison of the whole array per sync, O(n). The registry
 * is a chained hash table of folder directories that grows with the
 * number of folders open in the process. Single-threaded, like the
 * workers; the registry is process-wide state.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "maildir_int.h"
#include "xalloc.h"

struct maildir_snap {
	unsigned refs;
	struct maildir_msg *msgs;
	size_t count;
	char *dir; /* set while registered */
	struct maildir_snap *next; /* registry chain */
};

static struct maildir_snap **table;
static size_t table_size, table_used;

static size_t
dir_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

static struct maildir_snap **
slot_of(const char *dir)
{
	struct maildir_snap **pp;

	if (table_size == 0)
		return NULL;
	pp = &table[dir_hash(dir) & (table_size - 1)];
	while (*pp != NULL && strcmp((*pp)->dir, dir) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
table_grow(void)
{
	size_t nsize = table_size ? table_size * 2 : 64;
	struct maildir_snap **nt = xcalloc(nsize, sizeof(*nt));

	for (size_t i = 0; i < table_size; i++) {
		struct maildir_snap *s = table[i], *next;

		for (; s != NULL; s = next) {
			size_t h = dir_hash(s->dir) & (nsize - 1);

			next = s->next;
			s->next = nt[h];
			nt[h] = s;
		}
	}
	free(table);
	table = nt;
	table_size = nsize;
}

static void
unregister(struct maildir_snap *s)
{
	struct maildir_snap **pp;

	if (s->dir == NULL)
		return;
	pp = slot_of(s->dir);
	if (pp != NULL && *pp == s) {
		*pp = s->next;
		table_used--;
	}
	free(s->dir);
	s->dir = NULL;
	s->next = NULL;
}

static void
msgs_free(struct maildir_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].base);
	free(v);
}

static void
snap_unref(struct maildir_snap *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	unregister(s);
	msgs_free(s->msgs, s->count);
	free(s);
}

void
maildir_snap_set(struct mailbox *mb, struct maildir_msg *v, size_t n)
{
	struct maildir_snap *s = xcalloc(1, sizeof(*s));

	s->refs = 1;
	s->msgs = v;
	s->count = n;
	snap_unref(mb->snap);
	mb->snap = s;
	mb->msgs = v;
	mb->count = n;
}

void
maildir_snap_release(struct mailbox *mb)
{
	snap_unref(mb->snap);
	mb->snap = NULL;
	mb->msgs = NULL;
	mb->count = 0;
}

static void
msg_copy(struct maildir_msg *to, const struct maildir_msg *from)
{
	const char *suffix = maildir_msg_suffix(from);
	size_t blen = strlen(from->base);

	*to = *from;
	to->base = NULL;
	maildir_msg_set_name(to, from->base, blen, suffix);
}

void
maildir_snap_own(struct mailbox *mb)
{
	struct maildir_msg *v;

	if (mb->snap == NULL || mb->snap->refs == 1)
		return;
	v = xcalloc(mb->count + 1, sizeof(*v));
	for (size_t i = 0; i < mb->count; i++)
		msg_copy(&v[i], &mb->msgs[i]);
	maildir_snap_set(mb, v, mb->count);
}

static bool
msg_equal(const struct maildir_msg *a, const struct maildir_msg *b)
{
	return a->uid == b->uid && a->in_new == b->in_new &&
	       a->size == b->size && a->internal_date == b->internal_date &&
	       strcmp(a->base, b->base) == 0 &&
	       strcmp(maildir_msg_suffix(a), maildir_msg_suffix(b)) == 0;
}

static bool
snap_equal(const struct maildir_snap *a, const struct maildir_snap *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = a->count; i-- > 0;) {
		if (!msg_equal(&a->msgs[i], &b->msgs[i]))
			return false;
	}
	return true;
}

void
maildir_snap_share(struct mailbox *mb)
{
	struct maildir_snap **pp, *reg, *mine = mb->snap;

	if (mine == NULL || mine->dir != NULL)
		return;
	if (table_used >= table_size)
		table_grow();
	pp = slot_of(mb->dir);
	reg = *pp;
	if (reg != NULL && snap_equal(reg, mine)) {
		reg->refs++;
		mb->snap = reg;
		mb->msgs = reg->msgs;
		mb->count = reg->count;
		snap_unref(mine);
		return;
	}
	if (reg != NULL)
		unregister(reg);
	pp = slot_of(mb->dir);
	mine->dir = xstrdup(mb->dir);
	mine->next = *pp;
	*pp = mine;
	table_used++;
}

unsigned
maildir_snap_refs(const struct mailbox *mb)
{
	return mb->snap ? mb->snap->refs : 0;
}
