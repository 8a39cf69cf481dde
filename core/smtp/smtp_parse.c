/*
 * smtp_parse - SMTP command lines, paths and MAIL parameters
 *
 * The interface and its limits are described in smtp_parse.h. This file
 * only reads its arguments; it allocates nothing and keeps no state.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "smtp_parse.h"

struct verb_entry {
	const char *name;
	enum smtp_verb verb;
};

static const struct verb_entry verbs[] = {
    {"HELO", SMTP_VERB_HELO},	      {"EHLO", SMTP_VERB_EHLO},
    {"MAIL", SMTP_VERB_MAIL},	      {"RCPT", SMTP_VERB_RCPT},
    {"DATA", SMTP_VERB_DATA},	      {"BDAT", SMTP_VERB_BDAT},
    {"RSET", SMTP_VERB_RSET},	      {"NOOP", SMTP_VERB_NOOP},
    {"QUIT", SMTP_VERB_QUIT},	      {"VRFY", SMTP_VERB_VRFY},
    {"HELP", SMTP_VERB_HELP},	      {"EXPN", SMTP_VERB_EXPN},
    {"STARTTLS", SMTP_VERB_STARTTLS}, {"AUTH", SMTP_VERB_AUTH},
    {"ETRN", SMTP_VERB_ETRN},	      {"TURN", SMTP_VERB_TURN},
};

static bool
is_alpha(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static bool
is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool
is_atext(unsigned char ch)
{
	if (is_alpha(ch) || is_digit(ch))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL;
}

/* Compares s[0..len) with the NUL-terminated word, ignoring ASCII case. */
static bool
word_equal(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

const char *
smtp_verb_name(enum smtp_verb verb)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (verbs[i].verb == verb)
			return verbs[i].name;
	}
	return "UNKNOWN";
}

enum smtp_line_status
smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd)
{
	size_t i = 0, end = len;

	memset(cmd, 0, sizeof(*cmd));
	for (size_t k = 0; k < len; k++) {
		if (line[k] == '\0')
			return SMTP_LINE_NUL;
		if (line[k] == '\r')
			return SMTP_LINE_BARE_CR;
	}
	while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	if (end == 0)
		return SMTP_LINE_EMPTY;

	while (i < end && line[i] != ' ') {
		unsigned char ch = (unsigned char)line[i];

		if (ch < 0x20 || ch == 0x7f)
			return SMTP_LINE_CONTROL;
		i++;
	}
	cmd->verb_text = line;
	cmd->verb_len = i;
	cmd->verb = SMTP_VERB_UNKNOWN;
	for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++) {
		if (word_equal(line, i, verbs[k].name)) {
			cmd->verb = verbs[k].verb;
			break;
		}
	}
	while (i < end && line[i] == ' ')
		i++;
	cmd->arg = line + i;
	cmd->arg_len = end - i;
	return SMTP_LINE_OK;
}

bool
smtp_parse_helo(const char *arg, size_t len)
{
	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)arg[i];

		if (ch < 33 || ch > 126)
			return false;
	}
	return true;
}

bool
smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, bool *last)
{
	size_t i = 0;
	uint64_t v = 0;

	*size = 0;
	*last = false;
	if (len == 0 || !is_digit((unsigned char)arg[0]))
		return false;
	while (i < len && is_digit((unsigned char)arg[i])) {
		unsigned digit = (unsigned)(arg[i] - '0');

		if (v > ((uint64_t)INT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
		i++;
	}
	if (i < len && arg[i] != ' ')
		return false;
	while (i < len && arg[i] == ' ')
		i++;
	if (i < len) {
		if (!word_equal(arg + i, len - i, "LAST"))
			return false;
		*last = true;
	}
	*size = v;
	return true;
}

/* Returns the offset just past the '>' that closes the path, or 0. */
static size_t
find_path_end(const char *s, size_t len)
{
	bool quoted = false;

	for (size_t i = 1; i < len; i++) {
		if (quoted && s[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == '>')
			return i + 1;
	}
	return 0;
}

static bool
param_keyword_valid(const char *s, size_t len)
{
	if (len == 0 ||
	    !(is_alpha((unsigned char)s[0]) || is_digit((unsigned char)s[0])))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!is_alpha(ch) && !is_digit(ch) && ch != '-')
			return false;
	}
	return true;
}

/* esmtp-value: visible ASCII except '=', or UTF-8 (RFC 6531). */
static bool
param_value_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '=' || ch < 33 || ch == 127)
			return false;
	}
	return smtp_utf8_valid(s, len);
}

enum smtp_args_status
smtp_split_path_args(const char *arg, size_t len, const char *prefix,
		     struct smtp_path_args *out)
{
	size_t plen = strlen(prefix), i, end;

	memset(out, 0, sizeof(*out));
	if (len < plen || strncasecmp(arg, prefix, plen) != 0)
		return SMTP_ARGS_NO_PREFIX;
	i = plen;
	while (i < len && arg[i] == ' ')
		i++;
	if (i >= len || arg[i] != '<')
		return SMTP_ARGS_NO_PATH;
	end = find_path_end(arg + i, len - i);
	if (end == 0)
		return SMTP_ARGS_NO_PATH;
	out->path = arg + i;
	out->path_len = end;
	i += end;
	if (i < len && arg[i] != ' ')
		return SMTP_ARGS_BAD_PARAM;

	while (i < len) {
		size_t start, eq = 0;
		struct smtp_param *p;

		while (i < len && arg[i] == ' ')
			i++;
		if (i >= len)
			break;
		if (out->nparams == SMTP_PARAMS_MAX)
			return SMTP_ARGS_TOO_MANY;
		start = i;
		while (i < len && arg[i] != ' ') {
			if (arg[i] == '=' && eq == 0)
				eq = i;
			i++;
		}
		p = &out->params[out->nparams++];
		p->keyword = arg + start;
		if (eq == 0) {
			p->keyword_len = i - start;
		} else {
			p->keyword_len = eq - start;
			p->value = arg + eq + 1;
			p->value_len = i - eq - 1;
			if (!param_value_valid(p->value, p->value_len))
				return SMTP_ARGS_BAD_PARAM;
		}
		if (!param_keyword_valid(p->keyword, p->keyword_len))
			return SMTP_ARGS_BAD_PARAM;
	}
	return SMTP_ARGS_OK;
}

bool
smtp_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* One label: Let-dig [Ldh-str], or a U-label (any non-ASCII octets). */
static bool
label_valid(const char *s, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	if (s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!is_alpha(ch) && !is_digit(ch) && ch != '-' && ch < 0x80)
			return false;
	}
	return true;
}

static bool
domain_valid(const char *s, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (!label_valid(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* "[1.2.3.4]", "[IPv6:...]" or "[tag:content]", brackets included. */
static bool
address_literal_valid(const char *s, size_t len)
{
	char text[64];
	unsigned char addr[16];
	const char *in = s + 1;
	size_t n = len - 2;
	size_t colon;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return false;
	if (n > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		if (n - 5 >= sizeof(text))
			return false;
		memcpy(text, in + 5, n - 5);
		text[n - 5] = '\0';
		return inet_pton(AF_INET6, text, addr) == 1;
	}
	if (is_digit((unsigned char)in[0])) {
		if (n >= sizeof(text))
			return false;
		memcpy(text, in, n);
		text[n] = '\0';
		return inet_pton(AF_INET, text, addr) == 1;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	for (colon = 0; colon < n && in[colon] != ':'; colon++)
		;
	if (colon == n || colon + 1 == n || !label_valid(in, colon))
		return false;
	for (size_t i = colon + 1; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch < 33 || ch > 126 || ch == '[' || ch == '\\' || ch == ']')
			return false;
	}
	return true;
}

static bool
has_non_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return true;
	}
	return false;
}

/* Dot-string = Atom *("." Atom); non-ASCII counts as atext (RFC 6531). */
static bool
dot_string_valid(const char *s, size_t len)
{
	size_t atom = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (atom == 0)
				return false;
			atom = 0;
		} else if (is_atext(ch) || ch >= 0x80) {
			atom++;
		} else {
			return false;
		}
	}
	return atom > 0;
}

/*
 * Parses a Quoted-string at s[0] (which is '"'). Returns its length with
 * both quotes, or 0 when it is invalid. The unescaped content goes to
 * content (size SMTP_LOCAL_PART_MAX + 1) when it fits.
 */
static size_t
quoted_string_parse(const char *s, size_t len, char *content,
		    size_t *content_len)
{
	size_t n = 0;

	for (size_t i = 1; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"') {
			*content_len = n;
			return i + 1;
		}
		if (ch == '\\') {
			if (i + 1 >= len)
				return 0;
			ch = (unsigned char)s[++i];
			if (ch < 32 || ch > 126)
				return 0;
		} else if ((ch < 32 || ch > 126) && ch < 0x80) {
			return 0;
		}
		if (n < SMTP_LOCAL_PART_MAX)
			content[n] = (char)ch;
		n++;
	}
	return 0;
}

/* Skips an A-d-l "@d1,@d2:" at s[0]. Returns its length, or 0. */
static size_t
source_route_skip(const char *s, size_t len)
{
	size_t i = 0;

	for (;;) {
		size_t start;

		if (i >= len || s[i] != '@')
			return 0;
		start = ++i;
		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= len || !domain_valid(s + start, i - start))
			return 0;
		if (s[i++] == ':')
			return i;
	}
}

enum smtp_path_status
smtp_parse_path(const char *path, size_t len, unsigned flags,
		struct smtp_address *out)
{
	char unquoted[SMTP_LOCAL_PART_MAX + 1];
	size_t unquoted_len = 0;
	const char *in, *local, *domain;
	size_t n, local_len, domain_len;
	bool quoted;

	memset(out, 0, sizeof(*out));
	if (len < 2 || path[0] != '<' || path[len - 1] != '>')
		return SMTP_PATH_SYNTAX;
	in = path + 1;
	n = len - 2;
	if (n == 0) {
		if (!(flags & SMTP_PATH_ALLOW_NULL))
			return SMTP_PATH_SYNTAX;
		out->is_null = true;
		return SMTP_PATH_OK;
	}
	if ((flags & SMTP_PATH_ALLOW_POSTMASTER) &&
	    word_equal(in, n, "postmaster")) {
		strcpy(out->text, "postmaster");
		out->local_len = strlen(out->text);
		out->is_postmaster = true;
		return SMTP_PATH_OK;
	}
	if (!smtp_utf8_valid(in, n))
		return SMTP_PATH_SYNTAX;
	if (in[0] == '@') {
		size_t skip = source_route_skip(in, n);

		if (skip == 0)
			return SMTP_PATH_SYNTAX;
		in += skip;
		n -= skip;
	}

	local = in;
	quoted = n > 0 && in[0] == '"';
	if (quoted) {
		local_len = quoted_string_parse(in, n, unquoted, &unquoted_len);
		if (local_len == 0)
			return SMTP_PATH_SYNTAX;
	} else {
		local_len = 0;
		while (local_len < n && in[local_len] != '@')
			local_len++;
		if (!dot_string_valid(local, local_len))
			return SMTP_PATH_SYNTAX;
	}
	if (local_len >= n || in[local_len] != '@')
		return SMTP_PATH_SYNTAX;
	domain = in + local_len + 1;
	domain_len = n - local_len - 1;
	if (domain_len > 0 && domain[0] == '[') {
		if (!address_literal_valid(domain, domain_len))
			return SMTP_PATH_SYNTAX;
	} else if (!domain_valid(domain, domain_len)) {
		return SMTP_PATH_SYNTAX;
	}
	if (local_len > SMTP_LOCAL_PART_MAX || domain_len > SMTP_DOMAIN_MAX)
		return SMTP_PATH_TOO_LONG;

	out->is_utf8 = has_non_ascii(in, n);
	if (out->is_utf8 && !(flags & SMTP_PATH_ALLOW_UTF8))
		return SMTP_PATH_NEEDS_UTF8;

	/* "abc"@d and abc@d are the same mailbox (RFC 5321 4.1.2). */
	if (quoted && unquoted_len <= SMTP_LOCAL_PART_MAX &&
	    dot_string_valid(unquoted, unquoted_len)) {
		local = unquoted;
		local_len = unquoted_len;
	}
	memcpy(out->text, local, local_len);
	out->text[local_len] = '@';
	memcpy(out->text + local_len + 1, domain, domain_len);
	out->text[local_len + 1 + domain_len] = '\0';
	out->local_len = local_len;
	return SMTP_PATH_OK;
}

enum smtp_param_status
smtp_parse_mail_params(const struct smtp_path_args *a,
		       struct smtp_mail_params *out, size_t *bad)
{
	bool seen_size = false, seen_body = false, seen_utf8 = false;

	memset(out, 0, sizeof(*out));
	out->body = SMTP_BODY_7BIT;
	*bad = 0;
	for (size_t i = 0; i < a->nparams; i++) {
		const struct smtp_param *p = &a->params[i];

		*bad = i;
		if (word_equal(p->keyword, p->keyword_len, "SIZE")) {
			uint64_t v = 0;

			if (seen_size || p->value == NULL || p->value_len > 20)
				return SMTP_PARAM_SYNTAX;
			for (size_t k = 0; k < p->value_len; k++) {
				unsigned digit = (unsigned)(p->value[k] - '0');

				if (!is_digit((unsigned char)p->value[k]))
					return SMTP_PARAM_SYNTAX;
				/* Saturates: any huge SIZE is over the
				 * limit anyway. */
				if (v > (UINT64_MAX - digit) / 10)
					v = UINT64_MAX;
				else
					v = v * 10 + digit;
			}
			seen_size = true;
			out->has_size = true;
			out->size = v;
		} else if (word_equal(p->keyword, p->keyword_len, "BODY")) {
			if (seen_body || p->value == NULL)
				return SMTP_PARAM_SYNTAX;
			seen_body = true;
			if (word_equal(p->value, p->value_len, "7BIT"))
				out->body = SMTP_BODY_7BIT;
			else if (word_equal(p->value, p->value_len, "8BITMIME"))
				out->body = SMTP_BODY_8BITMIME;
			else if (word_equal(p->value, p->value_len,
					    "BINARYMIME"))
				return SMTP_PARAM_UNSUPPORTED;
			else
				return SMTP_PARAM_SYNTAX;
		} else if (word_equal(p->keyword, p->keyword_len, "SMTPUTF8")) {
			if (seen_utf8 || p->value != NULL)
				return SMTP_PARAM_SYNTAX;
			seen_utf8 = true;
			out->smtputf8 = true;
		} else {
			return SMTP_PARAM_UNSUPPORTED;
		}
	}
	return SMTP_PARAM_OK;
}
