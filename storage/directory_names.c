/*
 * directory_names - syntax of domain names and addresses, and the text
 * helpers the file backend uses to read its tables
 *
 * The rules are the ones stated in directory.h. A check never changes
 * its input and accepts either case, because callers fold names to
 * lowercase before they store them. Error texts name the rule that
 * failed but not the input, so the caller can print the input once.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "directory_file.h"
#include "xalloc.h"

#define DOMAIN_MAX 253
#define LABEL_MAX 63
#define LOCAL_PART_MAX 64
/* RFC 5321 limits a path to 256 octets, including the angle brackets. */
#define ADDRESS_MAX 254

static bool
is_ascii_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 5322 atext: the characters of a dot-atom besides the dots. */
static bool
is_atext(unsigned char c)
{
	return is_ascii_alnum(c) ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static void
describe_char(char *out, size_t outlen, unsigned char c)
{
	if (c > 0x20 && c < 0x7f)
		snprintf(out, outlen, "character '%c'", c);
	else
		snprintf(out, outlen, "byte 0x%02x", c);
}

static int
check_label(const char *label, size_t len, char *err, size_t errlen)
{
	char what[32];

	if (len == 0) {
		snprintf(err, errlen,
			 "invalid domain name: empty label (a leading, "
			 "trailing or doubled dot)");
		return -1;
	}
	if (len > LABEL_MAX) {
		snprintf(err, errlen,
			 "invalid domain name: a label is longer than %d "
			 "octets",
			 LABEL_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];

		if (is_ascii_alnum(c) || c == '-')
			continue;
		describe_char(what, sizeof(what), c);
		snprintf(err, errlen,
			 "invalid domain name: %s not allowed (only "
			 "letters, digits, hyphens and dots)",
			 what);
		return -1;
	}
	if (label[0] == '-' || label[len - 1] == '-') {
		snprintf(err, errlen,
			 "invalid domain name: a label starts or ends with a "
			 "hyphen");
		return -1;
	}
	return 0;
}

int
directory_check_domain(const char *domain, char *err, size_t errlen)
{
	size_t len = strlen(domain);
	const char *label = domain;
	bool all_digits = true;

	if (len == 0) {
		snprintf(err, errlen, "invalid domain name: empty");
		return -1;
	}
	if (len > DOMAIN_MAX) {
		snprintf(err, errlen,
			 "invalid domain name: longer than %d octets",
			 DOMAIN_MAX);
		return -1;
	}
	for (;;) {
		const char *dot = strchr(label, '.');
		size_t label_len = dot ? (size_t)(dot - label) : strlen(label);

		if (check_label(label, label_len, err, errlen) < 0)
			return -1;
		if (dot == NULL) {
			all_digits = strspn(label, "0123456789") == label_len;
			break;
		}
		label = dot + 1;
	}
	if (all_digits) {
		snprintf(err, errlen,
			 "invalid domain name: the last label is all digits");
		return -1;
	}
	return 0;
}

static int
check_local_part(const char *local, size_t len, char *err, size_t errlen)
{
	char what[32];

	if (len == 0) {
		snprintf(err, errlen, "invalid address: empty local part");
		return -1;
	}
	if (len > LOCAL_PART_MAX) {
		snprintf(err, errlen,
			 "invalid address: local part longer than %d octets",
			 LOCAL_PART_MAX);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c == '.') {
			if (i == 0 || i == len - 1 || local[i - 1] == '.') {
				snprintf(err, errlen,
					 "invalid address: local part starts "
					 "or ends with a dot, or has two in a "
					 "row");
				return -1;
			}
			continue;
		}
		if (is_atext(c))
			continue;
		if (c == '"') {
			snprintf(err, errlen,
				 "invalid address: quoted local parts are not "
				 "supported");
			return -1;
		}
		describe_char(what, sizeof(what), c);
		snprintf(err, errlen,
			 "invalid address: %s not allowed in the local part",
			 what);
		return -1;
	}
	return 0;
}

int
directory_check_address(const char *address, char *err, size_t errlen)
{
	const char *at = strchr(address, '@');
	size_t len = strlen(address);

	if (at == NULL) {
		snprintf(err, errlen,
			 "invalid address: missing '@' (expected "
			 "local@domain)");
		return -1;
	}
	if (strchr(at + 1, '@') != NULL) {
		snprintf(err, errlen, "invalid address: more than one '@'");
		return -1;
	}
	if (len > ADDRESS_MAX) {
		snprintf(err, errlen, "invalid address: longer than %d octets",
			 ADDRESS_MAX);
		return -1;
	}
	if (check_local_part(address, (size_t)(at - address), err, errlen) < 0)
		return -1;
	return directory_check_domain(at + 1, err, errlen);
}

int
directory_check_account_address(const char *address, char *err, size_t errlen)
{
	const char *at;

	if (directory_check_address(address, err, errlen) < 0)
		return -1;
	at = strchr(address, '@');
	if (memchr(address, '/', (size_t)(at - address)) != NULL) {
		snprintf(err, errlen,
			 "invalid account address: '/' is not allowed in an "
			 "account's local part (it names the mail directory)");
		return -1;
	}
	return 0;
}

char *
dir_fold(const char *s)
{
	char *copy = xstrdup(s);

	for (char *p = copy; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	return copy;
}

const char *
dir_domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at ? at + 1 : NULL;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

const char *
dir_trim(const char *line, size_t *len)
{
	while (*len > 0 && is_space(line[0])) {
		line++;
		(*len)--;
	}
	while (*len > 0 && is_space(line[*len - 1]))
		(*len)--;
	return line;
}

bool
dir_next_line(const char **pos, const char *end, const char **line, size_t *len,
	      unsigned *lineno)
{
	const char *lf;

	if (*pos >= end)
		return false;
	lf = memchr(*pos, '\n', (size_t)(end - *pos));
	*line = *pos;
	*len = lf ? (size_t)(lf - *pos) : (size_t)(end - *pos);
	*pos = lf ? lf + 1 : end;
	(*lineno)++;
	return true;
}
