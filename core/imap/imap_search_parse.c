/*
 * imap_search_parse - parse SEARCH keys into a tree
 *
 * The key names of RFC 3501 section 6.4.4 are matched case-insensitively.
 * Keys with a fixed meaning over flags become SEARCH_FLAG or
 * SEARCH_RECENT nodes with negate set for the UN- forms; NEW becomes
 * RECENT AND UNSEEN, OLD becomes NOT RECENT. The header keys (BCC, CC,
 * FROM, SUBJECT, TO) become SEARCH_HEADER with the field name filled in.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "imap_search.h"

static int
fail(struct imap_parser *p, const char *msg)
{
	if (p->error == NULL)
		p->error = msg;
	return -1;
}

static struct search_key *
key_new(struct imap_parser *p, enum search_op op)
{
	struct search_key *k = imap_parser_alloc(p, sizeof(*k));

	k->op = op;
	return k;
}

static const struct {
	const char *name;
	char letter;
	bool negate;
} flag_keys[] = {
	{"ANSWERED", 'R', false}, {"DELETED", 'T', false},
	{"DRAFT", 'D', false},	  {"FLAGGED", 'F', false},
	{"SEEN", 'S', false},	  {"UNANSWERED", 'R', true},
	{"UNDELETED", 'T', true}, {"UNDRAFT", 'D', true},
	{"UNFLAGGED", 'F', true}, {"UNSEEN", 'S', true},
};

static const struct {
	const char *name;
	enum search_op op;
} date_keys[] = {
	{"BEFORE", SEARCH_BEFORE},	   {"ON", SEARCH_ON},
	{"SINCE", SEARCH_SINCE},	   {"SENTBEFORE", SEARCH_SENTBEFORE},
	{"SENTON", SEARCH_SENTON},	   {"SENTSINCE", SEARCH_SENTSINCE},
};

static const char *const header_keys[] = {"BCC", "CC", "FROM", "SUBJECT",
					  "TO"};

static int
parse_string_arg(struct imap_parser *p, char **out)
{
	struct imap_string s;

	if (imap_parse_sp(p) < 0 || imap_parse_astring(p, &s) < 0)
		return -1;
	*out = s.data;
	return 0;
}

static int
parse_list(struct imap_parser *p, struct search_key **out, int depth)
{
	struct search_key *k = key_new(p, SEARCH_AND), **tail = &k->child;

	do {
		if (imap_parse_search_key(p, tail, depth + 1) < 0)
			return -1;
		tail = &(*tail)->next;
	} while (imap_accept(p, ' '));
	if (!imap_accept(p, ')'))
		return fail(p, "Missing ')' in search key list");
	*out = k;
	return 0;
}

/* Handles the keys named by a word; returns 1 if name was not one. */
static int
parse_named(struct imap_parser *p, const char *name, struct search_key **out,
	    int depth)
{
	struct search_key *k;
	size_t i;

	if (strcasecmp(name, "ALL") == 0) {
		*out = key_new(p, SEARCH_ALL);
		return 0;
	}
	for (i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++) {
		if (strcasecmp(name, flag_keys[i].name) == 0) {
			k = key_new(p, SEARCH_FLAG);
			k->flag = flag_keys[i].letter;
			k->negate = flag_keys[i].negate;
			*out = k;
			return 0;
		}
	}
	for (i = 0; i < sizeof(date_keys) / sizeof(date_keys[0]); i++) {
		if (strcasecmp(name, date_keys[i].name) == 0) {
			k = key_new(p, date_keys[i].op);
			if (imap_parse_sp(p) < 0 ||
			    imap_parse_date(p, &k->date) < 0)
				return -1;
			*out = k;
			return 0;
		}
	}
	for (i = 0; i < sizeof(header_keys) / sizeof(header_keys[0]); i++) {
		if (strcasecmp(name, header_keys[i]) == 0) {
			k = key_new(p, SEARCH_HEADER);
			k->field = (char *)header_keys[i];
			if (parse_string_arg(p, &k->str) < 0)
				return -1;
			*out = k;
			return 0;
		}
	}
	if (strcasecmp(name, "RECENT") == 0 || strcasecmp(name, "OLD") == 0) {
		k = key_new(p, SEARCH_RECENT);
		k->negate = name[0] == 'O' || name[0] == 'o';
		*out = k;
		return 0;
	}
	if (strcasecmp(name, "NEW") == 0) {
		k = key_new(p, SEARCH_AND);
		k->child = key_new(p, SEARCH_RECENT);
		k->child->next = key_new(p, SEARCH_FLAG);
		k->child->next->flag = 'S';
		k->child->next->negate = true;
		*out = k;
		return 0;
	}
	if (strcasecmp(name, "KEYWORD") == 0 ||
	    strcasecmp(name, "UNKEYWORD") == 0) {
		k = key_new(p, SEARCH_KEYWORD);
		k->negate = name[0] == 'U' || name[0] == 'u';
		if (imap_parse_sp(p) < 0 || imap_parse_atom(p, &k->str) < 0)
			return -1;
		*out = k;
		return 0;
	}
	if (strcasecmp(name, "LARGER") == 0 ||
	    strcasecmp(name, "SMALLER") == 0) {
		k = key_new(p, name[0] == 'L' || name[0] == 'l'
				       ? SEARCH_LARGER
				       : SEARCH_SMALLER);
		if (imap_parse_sp(p) < 0 || imap_parse_number(p, &k->size) < 0)
			return -1;
		*out = k;
		return 0;
	}
	if (strcasecmp(name, "HEADER") == 0) {
		k = key_new(p, SEARCH_HEADER);
		if (parse_string_arg(p, &k->field) < 0 ||
		    parse_string_arg(p, &k->str) < 0)
			return -1;
		if (k->field[0] == '\0')
			return fail(p, "Empty header field name");
		*out = k;
		return 0;
	}
	if (strcasecmp(name, "BODY") == 0 || strcasecmp(name, "TEXT") == 0) {
		k = key_new(p, name[0] == 'B' || name[0] == 'b' ? SEARCH_BODY
								: SEARCH_TEXT);
		if (parse_string_arg(p, &k->str) < 0)
			return -1;
		*out = k;
		return 0;
	}
	if (strcasecmp(name, "UID") == 0) {
		k = key_new(p, SEARCH_UIDSET);
		if (imap_parse_sp(p) < 0 || imap_parse_seqset(p, &k->set) < 0)
			return -1;
		*out = k;
		return 0;
	}
	if (strcasecmp(name, "NOT") == 0) {
		k = key_new(p, SEARCH_NOT);
		if (imap_parse_sp(p) < 0 ||
		    imap_parse_search_key(p, &k->child, depth + 1) < 0)
			return -1;
		*out = k;
		return 0;
	}
	if (strcasecmp(name, "OR") == 0) {
		k = key_new(p, SEARCH_OR);
		if (imap_parse_sp(p) < 0 ||
		    imap_parse_search_key(p, &k->child, depth + 1) < 0 ||
		    imap_parse_sp(p) < 0 ||
		    imap_parse_search_key(p, &k->child->next, depth + 1) < 0)
			return -1;
		*out = k;
		return 0;
	}
	return 1;
}

int
imap_parse_search_key(struct imap_parser *p, struct search_key **out,
		      int depth)
{
	int c = imap_peek(p), r;
	char *name;

	if (depth > IMAP_SEARCH_MAX_DEPTH)
		return fail(p, "Search keys nested too deeply");
	if (c == '(') {
		p->p++;
		return parse_list(p, out, depth);
	}
	if (c == '*' || (c >= '0' && c <= '9')) {
		struct search_key *k = key_new(p, SEARCH_SEQSET);

		if (imap_parse_seqset(p, &k->set) < 0)
			return -1;
		*out = k;
		return 0;
	}
	if (imap_parse_atom(p, &name) < 0) {
		p->error = NULL;
		return fail(p, c < 0 ? "Missing search key"
				     : "Invalid search key");
	}
	r = parse_named(p, name, out, depth);
	if (r > 0)
		return fail(p, "Unknown search key");
	return r;
}

int
imap_parse_search(struct imap_parser *p, struct search_key **out)
{
	struct search_key *k = key_new(p, SEARCH_AND), **tail = &k->child;

	do {
		if (imap_parse_search_key(p, tail, 1) < 0)
			return -1;
		tail = &(*tail)->next;
	} while (imap_accept(p, ' '));
	if (imap_parse_end(p) < 0)
		return -1;
	*out = k;
	return 0;
}
