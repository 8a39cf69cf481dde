/*
 * imap_cmd_list - LIST and LSUB
 *
 * The reference and the pattern are joined and matched against every
 * folder name and every ancestor of one ("A" for "A.B"), so a level that
 * is only a parent shows up with \Noselect as RFC 3501 asks. LSUB adds
 * such parents only for a pattern with '%', as RFC 3501 describes. LIST
 * adds the CHILDREN attributes (RFC 3348). INBOX matches in any case.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_names.h"
#include "imap_session.h"
#include "xalloc.h"

struct name_set {
	char **v;
	size_t n, cap;
};

static void
set_add(struct name_set *set, const char *name, size_t len)
{
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 32;
		set->v = xrealloc(set->v, set->cap * sizeof(char *));
	}
	set->v[set->n++] = xstrndup(name, len);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every ancestor of each name when parents is true; sorts and
 * removes duplicates. */
static void
set_close(struct name_set *set, bool parents)
{
	size_t i, n = parents ? set->n : 0, out = 0;

	for (i = 0; i < n; i++) {
		const char *name = set->v[i], *sep;

		for (sep = strchr(name, IMAP_SEPARATOR); sep != NULL;
		     sep = strchr(sep + 1, IMAP_SEPARATOR))
			set_add(set, name, (size_t)(sep - name));
	}
	if (set->n > 1)
		qsort(set->v, set->n, sizeof(char *), str_cmp);
	for (i = 0; i < set->n; i++) {
		if (out > 0 && strcmp(set->v[out - 1], set->v[i]) == 0) {
			free(set->v[i]);
			continue;
		}
		set->v[out++] = set->v[i];
	}
	set->n = out;
}

static bool
in_list(char **names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* Returns true if the sorted set holds a name below set->v[at]. */
static bool
has_children(const struct name_set *set, size_t at)
{
	size_t len = strlen(set->v[at]), j;

	/* Names sharing the prefix are adjacent, but "A-x" sorts between
	 * "A" and "A.B", so look at the whole run. */
	for (j = at + 1; j < set->n && strncmp(set->v[j], set->v[at], len) == 0;
	     j++)
		if (set->v[j][len] == IMAP_SEPARATOR)
			return true;
	return false;
}

static void
free_list(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int
list_common(struct imap_session *s, struct imap_parser *p, bool lsub)
{
	struct imap_string ref, pat;
	struct name_set set = {0};
	struct buf b = BUF_INIT;
	char **names = NULL, *pattern;
	size_t n = 0, i;
	int r;

	if (imap_parse_sp(p) < 0 || imap_parse_astring(p, &ref) < 0 ||
	    imap_parse_sp(p) < 0 || imap_parse_list_mailbox(p, &pat) < 0 ||
	    imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (strlen(ref.data) != ref.len || strlen(pat.data) != pat.len ||
	    !imap_mutf7_valid(ref.data, ref.len) ||
	    !imap_mutf7_valid(pat.data, pat.len)) {
		imap_bad(s, "Invalid mailbox pattern: use modified UTF-7");
		return 0;
	}
	if (pat.len == 0 && !lsub) {
		conn_puts(s->c, "* LIST (\\Noselect) \".\" \"\"\r\n");
		imap_ok(s, "LIST completed");
		return 0;
	}
	pattern = xasprintf("%s%s", ref.data, pat.data);
	if (strncasecmp(pattern, "INBOX", 5) == 0 &&
	    strchr("*%.", pattern[5]) != NULL)
		memcpy(pattern, "INBOX", 5);
	r = lsub ? maildir_subscriptions(s->acct.maildir, &names, &n)
		 : maildir_folder_list(s->acct.maildir, &names, &n);
	if (r < 0) {
		imap_no(s, "[SERVERBUG] Cannot read the mailbox list");
		free(pattern);
		return 0;
	}
	for (i = 0; i < n; i++)
		set_add(&set, names[i], strlen(names[i]));
	set_close(&set, !lsub || strchr(pattern, '%') != NULL);
	for (i = 0; i < set.n; i++) {
		const char *name = set.v[i];
		bool real = in_list(names, n, name);

		if (!imap_list_match(pattern, name))
			continue;
		buf_printf(&b, "* %s (", lsub ? "LSUB" : "LIST");
		if (!real)
			buf_puts(&b, "\\Noselect");
		if (!lsub)
			buf_printf(&b, "%s%s", real ? "" : " ",
				   has_children(&set, i) ? "\\HasChildren"
							 : "\\HasNoChildren");
		buf_puts(&b, ") \".\" ");
		imap_append_quoted(&b, name);
		buf_puts(&b, "\r\n");
	}
	conn_write(s->c, b.data, b.len);
	buf_free(&b);
	free_list(set.v, set.n);
	free_list(names, n);
	free(pattern);
	imap_ok(s, "%s completed", lsub ? "LSUB" : "LIST");
	return 0;
}

int
imap_cmd_list(struct imap_session *s, struct imap_parser *p)
{
	return list_common(s, p, false);
}

int
imap_cmd_lsub(struct imap_session *s, struct imap_parser *p)
{
	return list_common(s, p, true);
}
