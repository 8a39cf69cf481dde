/*
 * imap_parse - the IMAP4rev1 command grammar (RFC 3501 section 9)
 *
 * Deviations from the strict grammar, all of them lenient: quoted
 * strings may carry 8-bit octets (clients send UTF-8 there), a literal
 * may be followed by a bare LF, and a date-time day may be one digit
 * without the leading space. Literal octets may be anything but NUL;
 * imap_parse_astring() and imap_parse_string() reject NUL so callers can
 * use the result as a C string; imap_parse_literal_data() takes any
 * octet for APPEND.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_parse.h"
#include "xalloc.h"

struct imap_arena_block {
	struct imap_arena_block *next;
	max_align_t data[];
};

void
imap_parser_init(struct imap_parser *p, const char *data, size_t len)
{
	p->start = data;
	p->p = data;
	p->end = data + len;
	p->error = NULL;
	p->arena = NULL;
}

void
imap_parser_free(struct imap_parser *p)
{
	while (p->arena != NULL) {
		struct imap_arena_block *next = p->arena->next;

		free(p->arena);
		p->arena = next;
	}
}

void *
imap_parser_alloc(struct imap_parser *p, size_t size)
{
	struct imap_arena_block *b;

	b = xcalloc(1, sizeof(*b) + size + 1);
	b->next = p->arena;
	p->arena = b;
	return b->data;
}

char *
imap_parser_strdup(struct imap_parser *p, const char *s, size_t len)
{
	char *d = imap_parser_alloc(p, len + 1);

	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static int
fail(struct imap_parser *p, const char *msg)
{
	if (p->error == NULL)
		p->error = msg;
	return -1;
}

bool
imap_at_end(const struct imap_parser *p)
{
	return p->p >= p->end;
}

int
imap_parse_end(struct imap_parser *p)
{
	if (!imap_at_end(p))
		return fail(p, "Unexpected characters at end of command");
	return 0;
}

int
imap_peek(const struct imap_parser *p)
{
	return p->p < p->end ? (unsigned char)*p->p : -1;
}

bool
imap_accept(struct imap_parser *p, char c)
{
	if (p->p < p->end && *p->p == c) {
		p->p++;
		return true;
	}
	return false;
}

int
imap_parse_sp(struct imap_parser *p)
{
	if (!imap_accept(p, ' '))
		return fail(p, imap_at_end(p) ? "Missing argument"
					      : "Expected a single space");
	return 0;
}

bool
imap_is_atom_char(unsigned char c)
{
	if (c <= 0x1f || c >= 0x7f)
		return false;
	return strchr("(){ %*\"\\]", c) == NULL;
}

static bool
is_astring_char(unsigned char c)
{
	return imap_is_atom_char(c) || c == ']';
}

static bool
is_list_char(unsigned char c)
{
	return is_astring_char(c) || c == '%' || c == '*';
}

/* Reads 1* characters accepted by ok() into an arena string. */
static int
parse_run(struct imap_parser *p, bool (*ok)(unsigned char), char **out,
	  size_t *outlen, const char *what)
{
	const char *s = p->p;

	while (p->p < p->end && ok((unsigned char)*p->p))
		p->p++;
	if (p->p == s)
		return fail(p, what);
	*out = imap_parser_strdup(p, s, (size_t)(p->p - s));
	if (outlen != NULL)
		*outlen = (size_t)(p->p - s);
	return 0;
}

static bool
is_tag_char(unsigned char c)
{
	return is_astring_char(c) && c != '+';
}

int
imap_parse_tag(struct imap_parser *p, char **out)
{
	return parse_run(p, is_tag_char, out, NULL, "Invalid tag");
}

static bool
atom_char_ok(unsigned char c)
{
	return imap_is_atom_char(c);
}

int
imap_parse_atom(struct imap_parser *p, char **out)
{
	return parse_run(p, atom_char_ok, out, NULL, "Expected an atom");
}

static int
parse_quoted(struct imap_parser *p, struct imap_string *out)
{
	const char *s;
	char *d;
	size_t n = 0;

	p->p++; /* the opening quote */
	s = p->p;
	d = imap_parser_alloc(p, (size_t)(p->end - s) + 1);
	for (;;) {
		unsigned char c;

		if (p->p >= p->end)
			return fail(p, "Unterminated quoted string");
		c = (unsigned char)*p->p++;
		if (c == '"')
			break;
		if (c == '\\') {
			if (p->p >= p->end ||
			    (*p->p != '"' && *p->p != '\\'))
				return fail(p, "Invalid escape in quoted "
					       "string");
			c = (unsigned char)*p->p++;
		} else if (c == '\0' || c == '\r' || c == '\n') {
			return fail(p, "Invalid character in quoted string");
		}
		d[n++] = (char)c;
	}
	d[n] = '\0';
	out->data = d;
	out->len = n;
	out->literal = false;
	return 0;
}

/* Reads "{N}" or "{N+}", the line end and N octets. */
static int
parse_literal(struct imap_parser *p, struct imap_string *out)
{
	uint64_t n = 0;
	const char *digits;

	p->p++; /* the brace */
	digits = p->p;
	while (p->p < p->end && *p->p >= '0' && *p->p <= '9') {
		n = n * 10 + (uint64_t)(*p->p - '0');
		if (n > UINT32_MAX)
			return fail(p, "Literal size too large");
		p->p++;
	}
	if (p->p == digits)
		return fail(p, "Invalid literal size");
	imap_accept(p, '+');
	if (!imap_accept(p, '}'))
		return fail(p, "Invalid literal");
	imap_accept(p, '\r');
	if (!imap_accept(p, '\n'))
		return fail(p, "Literal size must end the line");
	if ((uint64_t)(p->end - p->p) < n)
		return fail(p, "Truncated literal");
	if (memchr(p->p, '\0', (size_t)n) != NULL)
		return fail(p, "NUL octet in literal");
	out->data = imap_parser_strdup(p, p->p, (size_t)n);
	out->len = (size_t)n;
	out->literal = true;
	p->p += n;
	return 0;
}

int
imap_parse_string(struct imap_parser *p, struct imap_string *out)
{
	int c = imap_peek(p);

	if (c == '"')
		return parse_quoted(p, out);
	if (c == '{')
		return parse_literal(p, out);
	return fail(p, c < 0 ? "Missing argument" : "Expected a string");
}

int
imap_parse_literal_data(struct imap_parser *p, struct imap_string *out)
{
	uint64_t n = 0;
	const char *digits;

	if (!imap_accept(p, '{'))
		return fail(p, "Expected a literal");
	digits = p->p;
	while (p->p < p->end && *p->p >= '0' && *p->p <= '9') {
		n = n * 10 + (uint64_t)(*p->p - '0');
		if (n > UINT32_MAX)
			return fail(p, "Literal size too large");
		p->p++;
	}
	if (p->p == digits)
		return fail(p, "Invalid literal size");
	imap_accept(p, '+');
	if (!imap_accept(p, '}'))
		return fail(p, "Invalid literal");
	imap_accept(p, '\r');
	if (!imap_accept(p, '\n'))
		return fail(p, "Literal size must end the line");
	if ((uint64_t)(p->end - p->p) < n)
		return fail(p, "Truncated literal");
	out->data = (char *)p->p;
	out->len = (size_t)n;
	out->literal = true;
	p->p += n;
	return 0;
}

int
imap_parse_astring(struct imap_parser *p, struct imap_string *out)
{
	int c = imap_peek(p);

	if (c == '"' || c == '{')
		return imap_parse_string(p, out);
	out->literal = false;
	return parse_run(p, is_astring_char, &out->data, &out->len,
			 c < 0 ? "Missing argument" : "Expected a string");
}

int
imap_parse_list_mailbox(struct imap_parser *p, struct imap_string *out)
{
	int c = imap_peek(p);

	if (c == '"' || c == '{')
		return imap_parse_string(p, out);
	out->literal = false;
	return parse_run(p, is_list_char, &out->data, &out->len,
			 c < 0 ? "Missing argument"
			       : "Expected a mailbox pattern");
}

int
imap_parse_number(struct imap_parser *p, uint32_t *out)
{
	uint64_t n = 0;
	const char *s = p->p;

	while (p->p < p->end && *p->p >= '0' && *p->p <= '9') {
		n = n * 10 + (uint64_t)(*p->p - '0');
		if (n > UINT32_MAX)
			return fail(p, "Number too large");
		p->p++;
	}
	if (p->p == s)
		return fail(p, "Expected a number");
	*out = (uint32_t)n;
	return 0;
}

int
imap_parse_nz_number(struct imap_parser *p, uint32_t *out)
{
	if (imap_peek(p) == '0')
		return fail(p, "Expected a non-zero number");
	return imap_parse_number(p, out);
}

static int
parse_seq_number(struct imap_parser *p, uint32_t *out)
{
	if (imap_accept(p, '*')) {
		*out = 0;
		return 0;
	}
	if (imap_peek(p) < '0' || imap_peek(p) > '9')
		return fail(p, "Invalid sequence set");
	return imap_parse_nz_number(p, out);
}

int
imap_parse_seqset(struct imap_parser *p, struct imap_seqset *out)
{
	struct imap_range *v = NULL;
	size_t n = 0, cap = 0;

	do {
		struct imap_range r;

		if (parse_seq_number(p, &r.lo) < 0)
			goto err;
		r.hi = r.lo;
		if (imap_accept(p, ':') && parse_seq_number(p, &r.hi) < 0)
			goto err;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = r;
	} while (imap_accept(p, ','));
	out->v = imap_parser_alloc(p, n * sizeof(*v));
	memcpy(out->v, v, n * sizeof(*v));
	out->n = n;
	free(v);
	return 0;
err:
	free(v);
	return fail(p, "Invalid sequence set");
}

int
imap_parse_flag(struct imap_parser *p, char **out)
{
	const char *s = p->p;
	char *atom;

	if (imap_accept(p, '\\')) {
		if (imap_parse_atom(p, &atom) < 0) {
			p->error = NULL;
			return fail(p, "Invalid flag");
		}
	} else if (imap_parse_atom(p, &atom) < 0) {
		p->error = NULL;
		return fail(p, "Invalid flag");
	}
	*out = imap_parser_strdup(p, s, (size_t)(p->p - s));
	return 0;
}

int
imap_parse_flag_list(struct imap_parser *p, char ***flags, size_t *n)
{
	const char *save;
	size_t count = 0, i;

	if (!imap_accept(p, '('))
		return fail(p, "Expected a flag list");
	/* Count first so the result is one arena allocation. */
	save = p->p;
	if (!imap_accept(p, ')')) {
		do {
			char *f;

			if (imap_parse_flag(p, &f) < 0)
				return -1;
			count++;
		} while (imap_accept(p, ' '));
		if (!imap_accept(p, ')'))
			return fail(p, "Unterminated flag list");
	}
	*flags = imap_parser_alloc(p, (count + 1) * sizeof(char *));
	p->p = save;
	for (i = 0; i < count; i++) {
		imap_parse_flag(p, &(*flags)[i]);
		imap_accept(p, ' ');
	}
	imap_accept(p, ')');
	*n = count;
	return 0;
}

static const char *const months[] = {"jan", "feb", "mar", "apr",
				     "may", "jun", "jul", "aug",
				     "sep", "oct", "nov", "dec"};

/* Reads exactly n digits (or 1..n when at_least_one) into *out. */
static int
parse_digits(struct imap_parser *p, int min, int max, int *out)
{
	int n = 0, v = 0;

	while (n < max && p->p < p->end && *p->p >= '0' && *p->p <= '9') {
		v = v * 10 + (*p->p - '0');
		p->p++;
		n++;
	}
	if (n < min)
		return -1;
	*out = v;
	return 0;
}

static int
parse_month(struct imap_parser *p, int *out)
{
	int i;

	if (p->end - p->p < 3)
		return -1;
	for (i = 0; i < 12; i++) {
		if (strncasecmp(p->p, months[i], 3) == 0) {
			p->p += 3;
			*out = i;
			return 0;
		}
	}
	return -1;
}

static bool
valid_day(int year, int mon, int day)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	if (day < 1 || day > mdays[mon])
		return false;
	return !(mon == 1 && day == 29 && !leap);
}

/* date-text: d-Mon-yyyy */
static int
parse_date_text(struct imap_parser *p, struct tm *tm)
{
	int day, mon, year;

	if (parse_digits(p, 1, 2, &day) < 0 || !imap_accept(p, '-') ||
	    parse_month(p, &mon) < 0 || !imap_accept(p, '-') ||
	    parse_digits(p, 4, 4, &year) < 0)
		return -1;
	if (year < 1900 || !valid_day(year, mon, day))
		return -1;
	memset(tm, 0, sizeof(*tm));
	tm->tm_mday = day;
	tm->tm_mon = mon;
	tm->tm_year = year - 1900;
	return 0;
}

int
imap_parse_date(struct imap_parser *p, time_t *out)
{
	struct tm tm;
	bool quoted = imap_accept(p, '"');

	if (parse_date_text(p, &tm) < 0 || (quoted && !imap_accept(p, '"')))
		return fail(p, "Invalid date");
	*out = timegm(&tm);
	return 0;
}

int
imap_parse_date_time(struct imap_parser *p, time_t *out)
{
	struct tm tm;
	int hh, mm, ss, zone;
	char sign;

	if (!imap_accept(p, '"'))
		return fail(p, "Invalid date-time");
	imap_accept(p, ' ');
	if (parse_date_text(p, &tm) < 0 || !imap_accept(p, ' ') ||
	    parse_digits(p, 2, 2, &hh) < 0 || !imap_accept(p, ':') ||
	    parse_digits(p, 2, 2, &mm) < 0 || !imap_accept(p, ':') ||
	    parse_digits(p, 2, 2, &ss) < 0 || !imap_accept(p, ' '))
		return fail(p, "Invalid date-time");
	if (p->p >= p->end || (*p->p != '+' && *p->p != '-'))
		return fail(p, "Invalid time zone");
	sign = *p->p++;
	if (parse_digits(p, 4, 4, &zone) < 0 || !imap_accept(p, '"'))
		return fail(p, "Invalid time zone");
	if (hh > 23 || mm > 59 || ss > 60 || zone % 100 > 59)
		return fail(p, "Invalid date-time");
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	zone = (zone / 100) * 3600 + (zone % 100) * 60;
	*out = timegm(&tm) - (sign == '+' ? zone : -zone);
	return 0;
}

static void
range_resolve(const struct imap_range *r, uint32_t star, uint32_t *lo,
	      uint32_t *hi)
{
	uint32_t a = r->lo ? r->lo : star;
	uint32_t b = r->hi ? r->hi : star;

	*lo = a < b ? a : b;
	*hi = a < b ? b : a;
}

bool
imap_seqset_contains(const struct imap_seqset *s, uint32_t n, uint32_t star)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		uint32_t lo, hi;

		range_resolve(&s->v[i], star, &lo, &hi);
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

uint32_t
imap_seqset_max(const struct imap_seqset *s)
{
	uint32_t m = 0;
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (s->v[i].lo > m)
			m = s->v[i].lo;
		if (s->v[i].hi > m)
			m = s->v[i].hi;
	}
	return m;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

size_t
imap_seqset_resolve(const struct imap_seqset *s, uint32_t star,
		    struct imap_range **out)
{
	struct imap_range *v;
	size_t i, n = 0;

	v = xmalloc((s->n ? s->n : 1) * sizeof(*v));
	for (i = 0; i < s->n; i++)
		range_resolve(&s->v[i], star, &v[i].lo, &v[i].hi);
	qsort(v, s->n, sizeof(*v), range_cmp);
	for (i = 0; i < s->n; i++) {
		if (n > 0 && (uint64_t)v[i].lo <= (uint64_t)v[n - 1].hi + 1) {
			if (v[i].hi > v[n - 1].hi)
				v[n - 1].hi = v[i].hi;
			continue;
		}
		v[n++] = v[i];
	}
	*out = v;
	return n;
}
