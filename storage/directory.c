/*
 * directory - lookups of the file backend: local domains, recipient
 * resolution, accounts and logins, and the read-only lists hapostctl
 * prints
 *
 * Each lookup first brings the tables it needs up to date with their
 * files (directory_load.c), so an edit by hapostctl shows in running
 * daemons at the next lookup.
 *
 * Alias resolution walks the alias graph breadth first from the
 * recipient. An address that is an account is delivered to and not
 * expanded further, even if an alias of the same name exists: the
 * account wins. An alias is expanded only up to DIR_ALIAS_DEPTH levels
 * below the recipient. An address already reached (a loop, or a second
 * path to the same target) is skipped, so loops end and every address
 * appears once in the result. A target in a foreign domain is returned
 * as is, for forwarding. A target in a local domain that is neither an
 * account nor an alias is skipped with a warning. When nothing remains,
 * the result is DIR_NOT_FOUND.
 *
 * Logins: directory_authenticate() returns DIR_NOT_FOUND for an unknown
 * user, a foreign domain and a wrong password alike, and checks a dummy
 * hash for an unknown user so the reply takes about as long. It does not
 * look at the imap/pop3/smtp_auth options; the protocol must.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory_file.h"
#include "log.h"
#include "xalloc.h"

static const char *const table_names[DIR_NTABLES] = {"domains", "accounts",
						     "aliases"};

struct directory *
directory_open_file(const char *data_dir)
{
	struct directory *d = xcalloc(1, sizeof(*d));

	d->data_dir = xstrdup(data_dir);
	d->table_dir = xasprintf("%s/directory", data_dir);
	d->mail_dir = xasprintf("%s/mail", data_dir);
	for (int k = 0; k < DIR_NTABLES; k++) {
		struct dir_table *t = &d->tables[k];

		t->kind = (enum dir_table_kind)k;
		t->name = table_names[k];
		t->path = xasprintf("%s/%s", d->table_dir, t->name);
	}
	return d;
}

void
directory_close(struct directory *d)
{
	if (d == NULL)
		return;
	dir_free_tables(d);
	for (int k = 0; k < DIR_NTABLES; k++)
		free(d->tables[k].path);
	free(d->dummy_hash);
	free(d->data_dir);
	free(d->table_dir);
	free(d->mail_dir);
	free(d);
}

const char *
directory_last_error(struct directory *d)
{
	return d->last_error;
}

bool
directory_domain_is_local(struct directory *d, const char *domain)
{
	char *folded;
	bool local;

	if (dir_refresh(d, DIR_TABLE_BIT(DIR_DOMAINS)) < 0)
		return false;
	folded = dir_fold(domain);
	local = dir_has_domain(d, folded);
	free(folded);
	return local;
}

/* A list of distinct strings it owns. */
struct strset {
	char **v;
	size_t n;
};

static bool
strset_has(const struct strset *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->v[i], str) == 0)
			return true;
	}
	return false;
}

/* Adds str (taken over) and returns it. */
static char *
strset_add(struct strset *s, char *str)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	s->v[s->n++] = str;
	return str;
}

void
directory_free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Expands one breadth-first level; next gets the local targets to visit. */
static void
resolve_level(struct directory *d, const char *rcpt, unsigned depth,
	      const struct strset *level, struct strset *seen,
	      struct strset *next, struct strset *result)
{
	for (size_t i = 0; i < level->n; i++) {
		const char *addr = level->v[i];
		const struct dir_alias *alias;

		if (dir_find_account(d, addr) != NULL) {
			strset_add(result, xstrdup(addr));
			continue;
		}
		alias = dir_find_alias(d, addr);
		if (alias == NULL) {
			if (depth > 0)
				log_warning("alias target %s (from %s) is "
					    "no account or alias; skipped",
					    addr, rcpt);
			continue;
		}
		if (depth == DIR_ALIAS_DEPTH) {
			log_warning("alias %s is more than %d alias levels "
				    "below %s; skipped",
				    addr, DIR_ALIAS_DEPTH, rcpt);
			continue;
		}
		for (size_t t = 0; t < alias->ntargets; t++) {
			const char *target = alias->targets[t];
			char *copy;

			if (strset_has(seen, target))
				continue;
			copy = strset_add(seen, xstrdup(target));
			if (dir_has_domain(d, dir_domain_of(copy)))
				strset_add(next, copy);
			else
				strset_add(result, xstrdup(copy));
		}
	}
}

enum dir_result
directory_resolve_rcpt(struct directory *d, const char *address, char ***out,
		       size_t *n)
{
	struct strset seen = {0}, level = {0}, result = {0};
	const char *domain;
	char *rcpt;

	*out = NULL;
	*n = 0;
	if (dir_refresh(d, DIR_ALL_TABLES) < 0)
		return DIR_TEMPFAIL;
	rcpt = dir_fold(address);
	domain = dir_domain_of(rcpt);
	if (domain == NULL || domain == rcpt + 1) {
		free(rcpt);
		return DIR_NOT_FOUND;
	}
	if (!dir_has_domain(d, domain)) {
		free(rcpt);
		return DIR_NOT_LOCAL;
	}
	strset_add(&seen, rcpt);
	/* level and next borrow their strings from seen. */
	strset_add(&level, rcpt);
	for (unsigned depth = 0; level.n > 0; depth++) {
		struct strset next = {0};

		resolve_level(d, rcpt, depth, &level, &seen, &next, &result);
		free(level.v);
		level = next;
	}
	free(level.v);
	directory_free_list(seen.v, seen.n);
	if (result.n == 0) {
		free(result.v);
		return DIR_NOT_FOUND;
	}
	*out = result.v;
	*n = result.n;
	return DIR_OK;
}

static void
fill_account(const struct directory *d, const struct dir_account *a,
	     struct account *acct)
{
	const char *domain = dir_domain_of(a->address);
	int local_len = (int)(domain - 1 - a->address);

	acct->address = xstrdup(a->address);
	acct->maildir =
	    xasprintf("%s/%s/%.*s", d->mail_dir, domain, local_len, a->address);
	acct->imap_enabled = a->imap;
	acct->pop3_enabled = a->pop3;
	acct->smtp_auth_enabled = a->smtp_auth;
}

void
account_free(struct account *acct)
{
	free(acct->address);
	free(acct->maildir);
	memset(acct, 0, sizeof(*acct));
}

/* Finds a full address in a local domain and sets *result to the outcome. */
static struct dir_account *
find_local_account(struct directory *d, const char *address,
		   enum dir_result *result)
{
	char *folded = dir_fold(address);
	const char *domain = dir_domain_of(folded);
	struct dir_account *a = NULL;

	if (domain == NULL || domain == folded + 1) {
		*result = DIR_NOT_FOUND;
	} else if (!dir_has_domain(d, domain)) {
		*result = DIR_NOT_LOCAL;
	} else {
		a = dir_find_account(d, folded);
		*result = a ? DIR_OK : DIR_NOT_FOUND;
	}
	free(folded);
	return a;
}

enum dir_result
directory_get_account(struct directory *d, const char *address,
		      struct account *acct)
{
	enum dir_result result;
	struct dir_account *a;

	memset(acct, 0, sizeof(*acct));
	if (dir_refresh(d, DIR_TABLE_BIT(DIR_DOMAINS) |
			       DIR_TABLE_BIT(DIR_ACCOUNTS)) < 0)
		return DIR_TEMPFAIL;
	a = find_local_account(d, address, &result);
	if (a != NULL)
		fill_account(d, a, acct);
	return result;
}

/* Finds the one account in a local domain whose local part is local. */
static struct dir_account *
find_by_local_part(struct directory *d, const char *local)
{
	char *folded = dir_fold(local);
	size_t len = strlen(folded);
	struct dir_account *found = NULL;
	unsigned matches = 0;

	for (size_t i = 0; i < d->naccounts; i++) {
		struct dir_account *a = &d->accounts[i];

		if (strncmp(a->address, folded, len) != 0 ||
		    a->address[len] != '@' ||
		    !dir_has_domain(d, a->address + len + 1))
			continue;
		found = a;
		matches++;
	}
	free(folded);
	return matches == 1 ? found : NULL;
}

static const char *
dummy_hash(struct directory *d)
{
	if (d->dummy_hash == NULL)
		d->dummy_hash = password_hash("hapost timing equalizer");
	return d->dummy_hash ? d->dummy_hash : "";
}

enum dir_result
directory_authenticate(struct directory *d, const char *user,
		       const char *password, struct account *acct)
{
	struct dir_account *a = NULL;
	enum dir_result result;

	memset(acct, 0, sizeof(*acct));
	if (dir_refresh(d, DIR_TABLE_BIT(DIR_DOMAINS) |
			       DIR_TABLE_BIT(DIR_ACCOUNTS)) < 0)
		return DIR_TEMPFAIL;
	if (user[0] != '\0' && strchr(user, '@') != NULL)
		a = find_local_account(d, user, &result);
	else if (user[0] != '\0')
		a = find_by_local_part(d, user);
	if (a == NULL || password[0] == '\0') {
		password_verify(password, dummy_hash(d));
		return DIR_NOT_FOUND;
	}
	if (!password_verify(password, a->hash))
		return DIR_NOT_FOUND;
	fill_account(d, a, acct);
	return DIR_OK;
}

enum dir_result
directory_cram_md5(struct directory *d, const char *user,
		   unsigned char state[DIR_CRAM_STATE_LEN], struct account *acct)
{
	struct dir_account *a = NULL;
	enum dir_result result = DIR_NOT_FOUND;

	memset(acct, 0, sizeof(*acct));
	if (dir_refresh(d, DIR_TABLE_BIT(DIR_DOMAINS) |
			       DIR_TABLE_BIT(DIR_ACCOUNTS)) < 0)
		return DIR_TEMPFAIL;
	if (user[0] != '\0' && strchr(user, '@') != NULL)
		a = find_local_account(d, user, &result);
	else if (user[0] != '\0')
		a = find_by_local_part(d, user);
	if (a == NULL || !a->has_cram)
		return DIR_NOT_FOUND;
	memcpy(state, a->cram, DIR_CRAM_STATE_LEN);
	fill_account(d, a, acct);
	return DIR_OK;
}

enum dir_result
directory_apop_secret(struct directory *d, const char *user, char **sealed,
		      struct account *acct)
{
	struct dir_account *a = NULL;
	enum dir_result result = DIR_NOT_FOUND;

	memset(acct, 0, sizeof(*acct));
	*sealed = NULL;
	if (dir_refresh(d, DIR_TABLE_BIT(DIR_DOMAINS) |
			       DIR_TABLE_BIT(DIR_ACCOUNTS)) < 0)
		return DIR_TEMPFAIL;
	if (user[0] != '\0' && strchr(user, '@') != NULL)
		a = find_local_account(d, user, &result);
	else if (user[0] != '\0')
		a = find_by_local_part(d, user);
	if (a == NULL || a->apop == NULL)
		return DIR_NOT_FOUND;
	*sealed = xstrdup(a->apop);
	fill_account(d, a, acct);
	return DIR_OK;
}

/* Appends options without the values of cram_md5 and apop, which are
 * secrets. */
static void
append_public_options(struct buf *out, const char *options)
{
	const char *p = options;
	bool first = true;

	while (*p != '\0') {
		size_t len = strcspn(p, ",");

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		if (len > 0) {
			buf_puts(out, first ? "" : ",");
			if (strncasecmp(p, "cram_md5=", 9) == 0)
				buf_puts(out, "cram_md5=(hidden)");
			else if (strncasecmp(p, "apop=", 5) == 0)
				buf_puts(out, "apop=(hidden)");
			else
				buf_append(out, p, len);
			first = false;
		}
		p += len;
		p += *p == ',';
	}
}

int
directory_domain_list(struct directory *d, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (dir_refresh(d, DIR_TABLE_BIT(DIR_DOMAINS)) < 0)
		return -1;
	if (d->ndomains == 0)
		return 0;
	*out = xcalloc(d->ndomains, sizeof(**out));
	for (size_t i = 0; i < d->ndomains; i++)
		(*out)[i] = xstrdup(d->domains[i]);
	*n = d->ndomains;
	return 0;
}

int
directory_account_list(struct directory *d, const char *domain, char ***out,
		       size_t *n)
{
	char *folded = NULL;
	struct strset list = {0};

	*out = NULL;
	*n = 0;
	d->last_error[0] = '\0';
	if (dir_refresh(d, DIR_TABLE_BIT(DIR_DOMAINS) |
			       DIR_TABLE_BIT(DIR_ACCOUNTS)) < 0)
		return -1;
	if (domain != NULL) {
		folded = dir_fold(domain);
		if (directory_check_domain(folded, d->last_error,
					   sizeof(d->last_error)) < 0) {
			free(folded);
			return -1;
		}
		if (!dir_has_domain(d, folded)) {
			snprintf(d->last_error, sizeof(d->last_error),
				 "domain %s not found", folded);
			free(folded);
			return -1;
		}
	}
	for (size_t i = 0; i < d->naccounts; i++) {
		const char *address = d->accounts[i].address;

		if (folded == NULL ||
		    strcmp(dir_domain_of(address), folded) == 0)
			strset_add(&list, xstrdup(address));
	}
	free(folded);
	*out = list.v;
	*n = list.n;
	return 0;
}

static void
append_targets(struct buf *line, const struct dir_alias *a)
{
	for (size_t t = 0; t < a->ntargets; t++)
		buf_printf(line, "%s%s", t ? ", " : "", a->targets[t]);
}

int
directory_alias_list(struct directory *d, char ***out, size_t *n)
{
	struct strset list = {0};

	*out = NULL;
	*n = 0;
	if (dir_refresh(d, DIR_TABLE_BIT(DIR_ALIASES)) < 0)
		return -1;
	for (size_t i = 0; i < d->naliases; i++) {
		struct buf line = BUF_INIT;

		buf_printf(&line, "%s: ", d->aliases[i].alias);
		append_targets(&line, &d->aliases[i]);
		strset_add(&list, xstrdup(buf_cstr(&line)));
		buf_free(&line);
	}
	*out = list.v;
	*n = list.n;
	return 0;
}

int
directory_account_show(struct directory *d, const char *address,
		       struct buf *out, char *err, size_t errlen)
{
	char *folded = dir_fold(address);
	enum dir_result result;
	struct dir_account *a;
	struct account acct;
	unsigned naliases = 0;

	if (directory_check_address(folded, err, errlen) < 0)
		goto fail;
	if (dir_refresh(d, DIR_ALL_TABLES) < 0) {
		snprintf(err, errlen, "%s", d->last_error);
		goto fail;
	}
	a = find_local_account(d, folded, &result);
	if (result == DIR_NOT_LOCAL) {
		snprintf(err, errlen, "domain %s is not a local domain",
			 dir_domain_of(folded));
		goto fail;
	}
	if (a == NULL) {
		snprintf(err, errlen, "account not found");
		goto fail;
	}
	fill_account(d, a, &acct);
	buf_printf(out, "address: %s\nmaildir: %s\n", acct.address,
		   acct.maildir);
	buf_printf(out, "imap: %s\npop3: %s\nsmtp_auth: %s\n",
		   a->imap ? "yes" : "no", a->pop3 ? "yes" : "no",
		   a->smtp_auth ? "yes" : "no");
	buf_printf(out, "legacy_auth: %s\n",
		   a->has_cram || a->apop != NULL ? "yes" : "no");
	buf_printf(out, "cram_md5_secret: %s\napop_secret: %s\n",
		   a->has_cram ? "yes" : "no", a->apop != NULL ? "yes" : "no");
	buf_puts(out, "options: ");
	append_public_options(out, a->options);
	buf_puts(out, "\naliases:");
	for (size_t i = 0; i < d->naliases; i++) {
		for (size_t t = 0; t < d->aliases[i].ntargets; t++) {
			if (strcmp(d->aliases[i].targets[t], folded) != 0)
				continue;
			buf_printf(out, "%s %s", naliases++ ? "," : "",
				   d->aliases[i].alias);
		}
	}
	buf_puts(out, "\n");
	account_free(&acct);
	free(folded);
	return 0;
fail:
	free(folded);
	return -1;
}
