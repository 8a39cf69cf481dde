/*
 * route - the gateway table: fixed next hops by recipient or domain
 *
 * The parser reads the table line by line into an array of routes in file
 * order and indexes their patterns in one open-addressing hash table. A
 * lookup tries, in order, the whole address, its domain, each parent
 * suffix from the longest (".b.example.org", then ".example.org", ...)
 * and last "*", each as one hash probe that ignores ASCII case. So the
 * most specific route wins whatever the line order, and a lookup costs a
 * few probes however large the table is.
 *
 * Every error stops the load and names the line. Option values are never
 * echoed in errors except tls= and window=, so a password does not end up
 * in a log.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "route.h"
#include "window.h"
#include "xalloc.h"

/* Bytes of input quoted in an error message. */
#define QUOTE_MAX 64
/* The maximum number of fields (pattern, next hop, options) on a line. */
#define FIELDS_MAX 16
#define PASSWORD_FILE_MAX 4096

struct route_table {
	struct route *v; /* file order */
	size_t n;
	size_t cap;
	size_t *slots; /* index + 1 into v, 0 for an empty slot */
	size_t nslots; /* a power of two, at least twice n */
};

/* One line being parsed: its fields, decoded, and where errors go. */
struct line_ctx {
	const char *name;
	unsigned line;
	char *err;
	size_t errlen;
	char *field[FIELDS_MAX];
	bool quoted[FIELDS_MAX]; /* the field had a quoted part */
	size_t nfields;
};

static const char *const option_names[] = {"tls", "user", "password",
					   "password_file", "window"};
enum option {
	OPT_TLS,
	OPT_USER,
	OPT_PASSWORD,
	OPT_PASSWORD_FILE,
	OPT_WINDOW,
	OPT_COUNT
};

static void
line_error(const struct line_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
line_error(const struct line_ctx *c, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	snprintf(c->err, c->errlen, "%s:%u: ", c->name, c->line);
	used = strlen(c->err);
	va_start(ap, fmt);
	vsnprintf(c->err + used, c->errlen - used, fmt, ap);
	va_end(ap);
}

/* Copies up to QUOTE_MAX bytes of s with unprintable bytes as '?'. */
static void
quote_text(char *dst, size_t dstlen, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < QUOTE_MAX && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (s[i] != '\0' && i + 4 < dstlen) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static void
lower_in_place(char *s)
{
	for (; *s != '\0'; s++)
		*s = ascii_lower(*s);
}

/* FNV-1a over the ASCII-lowered bytes. */
static uint64_t
key_hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)ascii_lower(s[i]);
		h *= 1099511628211ULL;
	}
	return h;
}

/* True when the stored lower-case pattern equals key[0..len) in any case. */
static bool
key_equal(const char *pattern, const char *key, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (pattern[i] == '\0' || pattern[i] != ascii_lower(key[i]))
			return false;
	return pattern[len] == '\0';
}

/* The slot that contains key, or the empty slot where it would go. */
static size_t
find_slot(const struct route_table *t, const char *key, size_t len)
{
	size_t mask = t->nslots - 1, i = (size_t)key_hash(key, len) & mask;

	while (t->slots[i] != 0 &&
	       !key_equal(t->v[t->slots[i] - 1].pattern, key, len))
		i = (i + 1) & mask;
	return i;
}

static void
grow_slots(struct route_table *t)
{
	size_t *old = t->slots, oldn = t->nslots;

	t->nslots = oldn == 0 ? 16 : oldn * 2;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
	for (size_t i = 0; i < oldn; i++) {
		const char *p;

		if (old[i] == 0)
			continue;
		p = t->v[old[i] - 1].pattern;
		t->slots[find_slot(t, p, strlen(p))] = old[i];
	}
	free(old);
}

static const struct route *
find_route(const struct route_table *t, const char *key, size_t len)
{
	size_t i;

	if (t->nslots == 0)
		return NULL;
	i = find_slot(t, key, len);
	return t->slots[i] != 0 ? &t->v[t->slots[i] - 1] : NULL;
}

static void
route_clear(struct route *r)
{
	free(r->pattern);
	free(r->host);
	free(r->user);
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	delivery_window_free(r->window);
}

/* A DNS host name: labels of letters, digits and inner hyphens. */
static bool
host_name_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (label == 0 && c == '-')
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		label++;
	}
	return true;
}

/* An RFC 5322 dot-atom local part, or UTF-8 (RFC 6531). */
static bool
local_part_valid(const char *s, size_t len)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";

	if (len == 0 || len > 64 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' && s[i + 1] == '.')
			return false;
		if (c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || strchr(specials, c) != NULL)
			continue;
		return false;
	}
	return true;
}

static bool
all_digits_and_dots(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static bool
has_non_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static int
check_pattern(const struct line_ctx *c, const char *p)
{
	char q[QUOTE_MAX + 8];
	const char *at = strchr(p, '@'), *domain;

	quote_text(q, sizeof(q), p);
	if (strcmp(p, "*") == 0)
		return 0;
	if (at != NULL) {
		if (strchr(at + 1, '@') != NULL ||
		    !local_part_valid(p, (size_t)(at - p))) {
			line_error(c,
				   "invalid address pattern '%s': use "
				   "user@example.org (no quoted local parts)",
				   q);
			return -1;
		}
		domain = at + 1;
	} else {
		domain = p[0] == '.' ? p + 1 : p;
	}
	if (has_non_ascii(domain)) {
		line_error(c,
			   "domain in pattern '%s' is not ASCII: write it as "
			   "an A-label (xn--...)",
			   q);
		return -1;
	}
	if (!host_name_valid(domain)) {
		line_error(c,
			   "invalid pattern '%s': use user@example.org, "
			   "example.org, .example.org or *",
			   q);
		return -1;
	}
	return 0;
}

/* Parses ":PORT" at s (or nothing) into *port. */
static int
parse_port(const struct line_ctx *c, const char *s, unsigned *port)
{
	char q[QUOTE_MAX + 8];
	unsigned long v = 0;
	size_t i;

	*port = 0;
	if (*s == '\0')
		return 0;
	quote_text(q, sizeof(q), s + 1);
	if (*s != ':') {
		quote_text(q, sizeof(q), s);
		line_error(c, "unexpected '%s' after the next hop's host", q);
		return -1;
	}
	for (i = 1; s[i] >= '0' && s[i] <= '9' && i <= 6; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (i == 1 || s[i] != '\0' || v == 0 || v > 65535) {
		line_error(c, "invalid port '%s': use a number from 1 to 65535",
			   q);
		return -1;
	}
	*port = (unsigned)v;
	return 0;
}

static int
parse_next_hop(const struct line_ctx *c, const char *hop, struct route *r)
{
	char q[QUOTE_MAX + 8];
	const char *port;

	quote_text(q, sizeof(q), hop);
	if (hop[0] == '[') {
		const char *close = strchr(hop, ']');
		char *inner, *addr;
		unsigned char bin[16];

		if (close == NULL) {
			line_error(c, "next hop '%s' lacks the closing ']'", q);
			return -1;
		}
		inner = xstrndup(hop + 1, (size_t)(close - hop - 1));
		addr = inner;
		if (strncasecmp(inner, "IPv6:", 5) == 0) {
			addr = inner + 5;
			if (inet_pton(AF_INET6, addr, bin) != 1) {
				line_error(c,
					   "invalid IPv6 address in next hop "
					   "'%s'",
					   q);
				free(inner);
				return -1;
			}
		} else if (strchr(inner, ':') != NULL) {
			if (inet_pton(AF_INET6, addr, bin) != 1) {
				line_error(c,
					   "invalid IPv6 address in next hop "
					   "'%s': write [IPv6:2001:db8::1]",
					   q);
				free(inner);
				return -1;
			}
		} else if (all_digits_and_dots(inner)) {
			if (inet_pton(AF_INET, addr, bin) != 1) {
				line_error(c,
					   "invalid IPv4 address in next hop "
					   "'%s'",
					   q);
				free(inner);
				return -1;
			}
		} else if (!host_name_valid(inner)) {
			line_error(c, "invalid host name in next hop '%s'", q);
			free(inner);
			return -1;
		}
		r->host = xstrdup(addr);
		free(inner);
		r->mx_lookup = false;
		port = close + 1;
	} else {
		const char *colon = strchr(hop, ':');
		size_t len = strcspn(hop, ":");
		char *host = xstrndup(hop, len);
		struct in_addr a4;

		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			line_error(c,
				   "next hop '%s': write an IPv6 address in "
				   "brackets, as [IPv6:2001:db8::1]",
				   q);
			free(host);
			return -1;
		}
		if (inet_pton(AF_INET, host, &a4) == 1) {
			line_error(c,
				   "next hop '%s': write an IP address in "
				   "brackets, as [%s]",
				   q, host);
			free(host);
			return -1;
		}
		if (all_digits_and_dots(host) || !host_name_valid(host)) {
			line_error(c, "invalid host name in next hop '%s'", q);
			free(host);
			return -1;
		}
		r->host = host;
		r->mx_lookup = true;
		port = hop + len;
	}
	lower_in_place(r->host);
	return parse_port(c, port, &r->port);
}

static int
read_password_file(const struct line_ctx *c, const char *path, char **out)
{
	char q[QUOTE_MAX + 8], data[PASSWORD_FILE_MAX + 1];
	struct stat st;
	ssize_t got;
	size_t len = 0;
	int fd;

	quote_text(q, sizeof(q), path);
	if (path[0] != '/') {
		line_error(c, "password_file '%s' is not an absolute path", q);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		line_error(c, "password_file '%s': %s", q, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		line_error(c, "password_file '%s' is not a regular file", q);
		close(fd);
		return -1;
	}
	if (st.st_mode & S_IROTH) {
		line_error(c,
			   "password_file '%s' is readable by others: run "
			   "chmod o-r on it",
			   q);
		close(fd);
		return -1;
	}
	while (len < sizeof(data)) {
		got = read(fd, data + len, sizeof(data) - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			line_error(c, "password_file '%s': %s", q,
				   strerror(errno));
			close(fd);
			explicit_bzero(data, sizeof(data));
			return -1;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	if (len > PASSWORD_FILE_MAX) {
		line_error(c, "password_file '%s' is larger than %d bytes", q,
			   PASSWORD_FILE_MAX);
		explicit_bzero(data, sizeof(data));
		return -1;
	}
	data[len] = '\0';
	len = strcspn(data, "\n");
	if (len > 0 && data[len - 1] == '\r')
		len--;
	if (memchr(data, '\0', len) != NULL || len == 0) {
		line_error(c,
			   "password_file '%s' has no password on its first "
			   "line",
			   q);
		explicit_bzero(data, sizeof(data));
		return -1;
	}
	*out = xstrndup(data, len);
	explicit_bzero(data, sizeof(data));
	return 0;
}

static int
parse_tls(const struct line_ctx *c, const char *v, struct route *r)
{
	char q[QUOTE_MAX + 8];

	r->tls_set = true;
	if (strcmp(v, "none") == 0)
		r->tls = SMTPC_TLS_NONE;
	else if (strcmp(v, "may") == 0)
		r->tls = SMTPC_TLS_MAY;
	else if (strcmp(v, "encrypt") == 0 || strcmp(v, "required") == 0)
		r->tls = SMTPC_TLS_ENCRYPT;
	else if (strcmp(v, "verify") == 0)
		r->tls = SMTPC_TLS_VERIFY;
	else {
		quote_text(q, sizeof(q), v);
		line_error(c,
			   "unknown tls policy '%s': use none, may, encrypt, "
			   "required or verify",
			   q);
		return -1;
	}
	return 0;
}

static int
parse_options(const struct line_ctx *c, struct route *r, bool *has_password)
{
	bool seen[OPT_COUNT] = {false};
	char reason[512];

	*has_password = false;
	for (size_t i = 2; i < c->nfields; i++) {
		char *f = c->field[i], *eq = strchr(f, '=');
		char q[QUOTE_MAX + 8];
		const char *value;
		int opt = -1;

		if (eq != NULL)
			*eq = '\0';
		for (int k = 0; k < OPT_COUNT; k++)
			if (strcmp(f, option_names[k]) == 0)
				opt = k;
		if (eq == NULL) {
			if (opt >= 0)
				line_error(c,
					   "option '%s' needs a value: %s=...",
					   f, f);
			else
				line_error(c,
					   "field %zu is not an option "
					   "(key=value)",
					   i + 1);
			return -1;
		}
		quote_text(q, sizeof(q), f);
		if (opt < 0) {
			line_error(c,
				   "unknown option '%s': use tls, user, "
				   "password, password_file or window",
				   q);
			return -1;
		}
		if (seen[opt]) {
			line_error(c, "option '%s' is given twice", f);
			return -1;
		}
		if ((opt == OPT_PASSWORD && seen[OPT_PASSWORD_FILE]) ||
		    (opt == OPT_PASSWORD_FILE && seen[OPT_PASSWORD])) {
			line_error(c, "give password= or password_file=, "
				      "not both");
			return -1;
		}
		seen[opt] = true;
		value = eq + 1;
		if (value[0] == '\0') {
			line_error(c, "option '%s' has an empty value", f);
			return -1;
		}
		switch (opt) {
		case OPT_TLS:
			if (parse_tls(c, value, r) < 0)
				return -1;
			break;
		case OPT_USER:
			r->user = xstrdup(value);
			break;
		case OPT_PASSWORD:
			r->password = xstrdup(value);
			*has_password = true;
			break;
		case OPT_PASSWORD_FILE:
			if (read_password_file(c, value, &r->password) < 0)
				return -1;
			break;
		case OPT_WINDOW:
			if (delivery_window_parse(value, &r->window, reason,
						  sizeof(reason)) < 0) {
				line_error(c, "window: %s", reason);
				return -1;
			}
			break;
		}
	}
	if (r->password != NULL && r->user == NULL) {
		line_error(c, "password needs user= as well");
		return -1;
	}
	if (r->user != NULL && r->password == NULL) {
		line_error(c, "user= needs password= or password_file=");
		return -1;
	}
	return 0;
}

/*
 * Splits line into fields at blanks, decoding quoted option values, and
 * stops at a '#' that starts a field. The fields point into line.
 */
static int
split_fields(struct line_ctx *c, char *line)
{
	char *in = line, *out = line, prev;

	c->nfields = 0;
	for (;;) {
		bool after_quote = false;

		while (*in == ' ' || *in == '\t')
			in++;
		if (*in == '\0' || *in == '#')
			return 0;
		if (c->nfields == FIELDS_MAX) {
			line_error(c, "more than %d fields", FIELDS_MAX);
			return -1;
		}
		c->quoted[c->nfields] = false;
		c->field[c->nfields++] = out;
		prev = '\0';
		while (*in != '\0' && *in != ' ' && *in != '\t') {
			if (after_quote) {
				line_error(c,
					   "field %zu: unexpected text after "
					   "the closing quote",
					   c->nfields);
				return -1;
			}
			if (*in != '"') {
				prev = *in;
				*out++ = *in++;
				continue;
			}
			if (prev != '=') {
				line_error(c,
					   "field %zu: a quote may only start "
					   "an option value, as key=\"...\"",
					   c->nfields);
				return -1;
			}
			in++;
			c->quoted[c->nfields - 1] = true;
			while (*in != '"') {
				if (*in == '\0') {
					line_error(c,
						   "field %zu: missing the "
						   "closing quote",
						   c->nfields);
					return -1;
				}
				if (*in == '\\') {
					in++;
					if (*in != '"' && *in != '\\') {
						line_error(c,
							   "field %zu: invalid "
							   "escape in quotes: "
							   "use \\\" or \\\\",
							   c->nfields);
						return -1;
					}
				}
				*out++ = *in++;
			}
			in++;
			after_quote = true;
		}
		/* Decoding only drops bytes, so out never passes in. */
		if (*in != '\0')
			in++;
		*out++ = '\0';
	}
}

/* Adds the route from one line; the line is modified. */
static int
parse_line(struct route_table *t, struct line_ctx *c, char *line,
	   bool *has_password)
{
	struct route r = {0};
	char *pattern;
	size_t slot;

	*has_password = false;
	for (const char *p = line; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			line_error(c, "invalid control character 0x%02x", ch);
			return -1;
		}
	}
	if (split_fields(c, line) < 0)
		return -1;
	if (c->nfields == 0)
		return 0;
	if (c->nfields == 1) {
		char q[QUOTE_MAX + 8];

		quote_text(q, sizeof(q), c->field[0]);
		line_error(c, "pattern '%s' lacks a next hop", q);
		return -1;
	}
	pattern = c->field[0];
	if (c->quoted[0] || c->quoted[1]) {
		line_error(c, "quotes are allowed only in option values");
		return -1;
	}
	lower_in_place(pattern);
	if (check_pattern(c, pattern) < 0)
		return -1;
	if (t->nslots == 0 || (t->n + 1) * 2 > t->nslots)
		grow_slots(t);
	slot = find_slot(t, pattern, strlen(pattern));
	if (t->slots[slot] != 0) {
		char q[QUOTE_MAX + 8];

		quote_text(q, sizeof(q), pattern);
		line_error(c, "pattern '%s' is already on line %u", q,
			   t->v[t->slots[slot] - 1].line);
		return -1;
	}
	r.line = c->line;
	if (parse_next_hop(c, c->field[1], &r) < 0 ||
	    parse_options(c, &r, has_password) < 0) {
		route_clear(&r);
		return -1;
	}
	r.pattern = xstrdup(pattern);
	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 16 : t->cap * 2;
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = r;
	t->slots[slot] = t->n;
	return 0;
}

/*
 * Parses the whole table. When others_can_read, a password= anywhere fails
 * the load.
 */
static int
parse_table(const char *text, size_t len, const char *name,
	    bool others_can_read, struct route_table **out, char *err,
	    size_t errlen)
{
	struct route_table *t = xcalloc(1, sizeof(*t));
	struct line_ctx c = {.name = name, .err = err, .errlen = errlen};
	char *line = xmalloc(ROUTE_LINE_MAX + 2);
	size_t pos = 0;
	int ret = -1;

	*out = NULL;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t n = end - pos;
		bool has_password;

		c.line++;
		if (n > 0 && text[end - 1] == '\r')
			n--;
		if (n > ROUTE_LINE_MAX) {
			line_error(&c, "line longer than %d bytes",
				   ROUTE_LINE_MAX);
			goto out;
		}
		if (memchr(text + pos, '\0', n) != NULL) {
			line_error(&c, "contains a NUL byte");
			goto out;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (parse_line(t, &c, line, &has_password) < 0)
			goto out;
		if (has_password && others_can_read) {
			line_error(&c,
				   "password= in a table that others may "
				   "read: run chmod o-r %s, or use "
				   "password_file=",
				   name);
			goto out;
		}
		pos = end + 1;
	}
	*out = t;
	t = NULL;
	ret = 0;
out:
	explicit_bzero(line, ROUTE_LINE_MAX + 2);
	free(line);
	route_table_free(t);
	return ret;
}

int
route_table_parse(const char *text, size_t len, const char *name,
		  struct route_table **out, char *err, size_t errlen)
{
	return parse_table(text, len, name, false, out, err, errlen);
}

int
route_table_load(const char *path, struct route_table **out, char *err,
		 size_t errlen)
{
	struct buf text = BUF_INIT;
	struct stat st;
	int fd, ret = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	for (;;) {
		ssize_t got;

		buf_reserve(&text, 65536);
		got = read(fd, text.data + text.len, text.cap - text.len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		text.len += (size_t)got;
		if (text.len > ROUTE_FILE_MAX) {
			snprintf(err, errlen, "%s: larger than %d bytes", path,
				 ROUTE_FILE_MAX);
			goto out;
		}
	}
	ret = parse_table(text.data != NULL ? text.data : "", text.len, path,
			  (st.st_mode & S_IROTH) != 0, out, err, errlen);
out:
	if (text.data != NULL)
		explicit_bzero(text.data, text.len);
	buf_free(&text);
	close(fd);
	return ret;
}

int
route_table_check(const char *path, char *err, size_t errlen)
{
	struct route_table *t;

	if (route_table_load(path, &t, err, errlen) < 0)
		return -1;
	route_table_free(t);
	return 0;
}

const struct route *
route_lookup(const struct route_table *t, const char *address)
{
	const struct route *r;
	const char *at, *domain;
	size_t len, dlen;

	if (t == NULL || t->n == 0)
		return NULL;
	len = strlen(address);
	at = strrchr(address, '@');
	if (at != NULL) {
		domain = at + 1;
		dlen = len - (size_t)(domain - address);
		/* A trailing dot makes the domain absolute, not different. */
		if (dlen > 0 && domain[dlen - 1] == '.') {
			dlen--;
			len--;
		}
		if (dlen > 0 && domain[0] != '.') {
			r = find_route(t, address, len);
			if (r != NULL)
				return r;
			r = find_route(t, domain, dlen);
			if (r != NULL)
				return r;
			for (size_t i = 0; i < dlen; i++) {
				if (domain[i] != '.')
					continue;
				r = find_route(t, domain + i, dlen - i);
				if (r != NULL)
					return r;
			}
		}
	}
	return find_route(t, "*", 1);
}

size_t
route_table_count(const struct route_table *t)
{
	return t != NULL ? t->n : 0;
}

const struct route *
route_table_get(const struct route_table *t, size_t i)
{
	return t != NULL && i < t->n ? &t->v[i] : NULL;
}

void
route_table_free(struct route_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		route_clear(&t->v[i]);
	free(t->v);
	free(t->slots);
	free(t);
}
