/*
 * imap_search - match one message against a SEARCH key tree
 *
 * Content keys load the message once through m->load and then use the
 * MIME module's case-insensitive substring tests. A message whose file
 * vanished (expunged by another session) matches no content key.
 */
#include "config.h"

#include <string.h>

#include "imap_search.h"
#include "mime/mime.h"

static long
day_of(time_t t)
{
	return (long)(t >= 0 ? t / 86400 : (t - 86399) / 86400);
}

static bool
has_flag(const char *flags, char letter)
{
	return letter != 0 && strchr(flags, letter) != NULL;
}

static bool
match_date(enum search_op op, time_t when, time_t day)
{
	long a = day_of(when), b = day_of(day);

	switch (op) {
	case SEARCH_BEFORE:
	case SEARCH_SENTBEFORE:
		return a < b;
	case SEARCH_ON:
	case SEARCH_SENTON:
		return a == b;
	default:
		return a >= b;
	}
}

bool
imap_search_needs_content(const struct search_key *k)
{
	const struct search_key *c;

	switch (k->op) {
	case SEARCH_SENTBEFORE:
	case SEARCH_SENTON:
	case SEARCH_SENTSINCE:
	case SEARCH_HEADER:
	case SEARCH_BODY:
	case SEARCH_TEXT:
		return true;
	case SEARCH_AND:
	case SEARCH_OR:
	case SEARCH_NOT:
		for (c = k->child; c != NULL; c = c->next)
			if (imap_search_needs_content(c))
				return true;
		return false;
	default:
		return false;
	}
}

static bool
match_content(const struct search_key *k, struct search_msg *m)
{
	time_t sent;

	if (m->data == NULL && m->load(m) < 0)
		return false;
	switch (k->op) {
	case SEARCH_HEADER:
		return mime_header_contains(m->data, m->len, k->field, k->str);
	case SEARCH_BODY:
		return mime_body_contains(m->data, m->len, m->mime, k->str);
	case SEARCH_TEXT:
		return mime_text_contains(m->data, m->len, m->mime, k->str);
	default:
		sent = mime_date_header(m->data, m->len);
		if (sent == (time_t)-1)
			return false;
		return match_date(k->op, sent, k->date);
	}
}

static bool
match_and(const struct search_key *k, struct search_msg *m)
{
	const struct search_key *c;
	int pass;

	/* Cheap keys first, so content is read only when they all hold. */
	for (pass = 0; pass < 2; pass++) {
		for (c = k->child; c != NULL; c = c->next) {
			if (imap_search_needs_content(c) != (pass == 1))
				continue;
			if (!imap_search_match(c, m))
				return false;
		}
	}
	return true;
}

bool
imap_search_match(const struct search_key *k, struct search_msg *m)
{
	bool r;
	char letter;

	switch (k->op) {
	case SEARCH_ALL:
		return true;
	case SEARCH_AND:
		return match_and(k, m);
	case SEARCH_OR:
		return imap_search_match(k->child, m) ||
		       imap_search_match(k->child->next, m);
	case SEARCH_NOT:
		return !imap_search_match(k->child, m);
	case SEARCH_SEQSET:
		return imap_seqset_contains(&k->set, m->seq, m->max_seq);
	case SEARCH_UIDSET:
		return imap_seqset_contains(&k->set, m->uid, m->max_uid);
	case SEARCH_FLAG:
		r = has_flag(m->flags, k->flag);
		return k->negate ? !r : r;
	case SEARCH_KEYWORD:
		letter = m->keyword_letter ? m->keyword_letter(m->ctx, k->str)
					   : 0;
		r = has_flag(m->flags, letter);
		return k->negate ? !r : r;
	case SEARCH_RECENT:
		return k->negate ? !m->recent : m->recent;
	case SEARCH_BEFORE:
	case SEARCH_ON:
	case SEARCH_SINCE:
		return match_date(k->op, m->internal_date, k->date);
	case SEARCH_LARGER:
		return m->size > k->size;
	case SEARCH_SMALLER:
		return m->size < k->size;
	default:
		return match_content(k, m);
	}
}
