/*
 * directory_load - reading and parsing the file backend's tables
 *
 * Every lookup calls dir_refresh(), which stats each table it needs and
 * re-reads a file whose inode, size, mtime or ctime differ from the copy
 * in memory. Edits replace a table by rename, so a new inode marks every
 * edit even within one mtime tick. A stat per table per lookup is cheap
 * on a local filesystem. On NFS the client's attribute cache (actimeo)
 * bounds how soon another node's edit shows.
 *
 * Lines: blank lines and lines starting with '#' are ignored. A line that
 * does not parse (bad syntax, an invalid name, a NUL byte) is skipped with
 * a warning naming the file and line, and the rest of the table is used.
 * A repeated domain is harmless; a repeated account keeps its first line;
 * repeated alias lines merge their targets.
 *
 * Failure: a missing table is an empty table. A table that cannot be read
 * (permissions, I/O error, larger than DIR_TABLE_MAX) keeps serving the
 * copy read before, with one warning per distinct error; without an
 * earlier copy the lookup fails (DIR_TEMPFAIL).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "directory_file.h"
#include "fsutil.h"
#include "log.h"
#include "xalloc.h"

struct parse_ctx {
	const char *path;
	unsigned lineno;
};

static void
skip_line(const struct parse_ctx *ctx, const char *reason)
{
	log_warning("%s:%u: %s; line skipped", ctx->path, ctx->lineno, reason);
}

/* Returns the name in line[0..len) folded to lowercase. */
static char *
fold_span(const char *line, size_t len)
{
	char *raw = xstrndup(line, len);
	char *folded = dir_fold(raw);

	free(raw);
	return folded;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Orders by address, then by line so the first line of a repeat wins. */
static int
compare_accounts(const void *a, const void *b)
{
	const struct dir_account *x = a, *y = b;
	int c = strcmp(x->address, y->address);

	if (c != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

static int
compare_aliases(const void *a, const void *b)
{
	const struct dir_alias *x = a, *y = b;
	int c = strcmp(x->alias, y->alias);

	if (c != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

static void
free_domains(struct directory *d)
{
	for (size_t i = 0; i < d->ndomains; i++)
		free(d->domains[i]);
	free(d->domains);
	d->domains = NULL;
	d->ndomains = 0;
}

static void
free_account(struct dir_account *a)
{
	free(a->address);
	if (a->hash != NULL)
		explicit_bzero(a->hash, strlen(a->hash));
	free(a->hash);
	free(a->options);
	explicit_bzero(a->cram, sizeof(a->cram));
	free(a->apop);
}

static void
free_accounts(struct directory *d)
{
	for (size_t i = 0; i < d->naccounts; i++)
		free_account(&d->accounts[i]);
	free(d->accounts);
	d->accounts = NULL;
	d->naccounts = 0;
}

static void
free_alias(struct dir_alias *a)
{
	free(a->alias);
	for (size_t i = 0; i < a->ntargets; i++)
		free(a->targets[i]);
	free(a->targets);
}

static void
free_aliases(struct directory *d)
{
	for (size_t i = 0; i < d->naliases; i++)
		free_alias(&d->aliases[i]);
	free(d->aliases);
	d->aliases = NULL;
	d->naliases = 0;
}

static void
free_table_data(struct directory *d, enum dir_table_kind kind)
{
	switch (kind) {
	case DIR_DOMAINS:
		free_domains(d);
		break;
	case DIR_ACCOUNTS:
		free_accounts(d);
		break;
	case DIR_ALIASES:
	default:
		free_aliases(d);
		break;
	}
}

static void
parse_domain_line(struct directory *d, const struct parse_ctx *ctx,
		  const char *line, size_t len, size_t *cap)
{
	char err[160];
	char *domain = fold_span(line, len);

	if (directory_check_domain(domain, err, sizeof(err)) < 0) {
		skip_line(ctx, err);
		free(domain);
		return;
	}
	if (d->ndomains == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		d->domains = xrealloc(d->domains, *cap * sizeof(*d->domains));
	}
	d->domains[d->ndomains++] = domain;
}

/* Reads the 64 hex digits of a cram_md5 option into a->cram. */
static void
apply_cram(struct dir_account *a, const struct parse_ctx *ctx,
	   const char *hex, size_t len)
{
	a->has_cram = false;
	if (len != 2 * DIR_CRAM_STATE_LEN)
		goto bad;
	for (size_t i = 0; i < DIR_CRAM_STATE_LEN; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &v) != 1)
			goto bad;
		a->cram[i] = (unsigned char)v;
	}
	a->has_cram = true;
	return;
bad:
	log_warning("%s:%u: invalid cram_md5 option (expected 64 hex "
		    "digits); CRAM-MD5 disabled for the account",
		    ctx->path, ctx->lineno);
}

/* Keeps the base64 text of an apop option; site_key_open() checks the
 * rest when the secret is used. */
static void
apply_apop(struct dir_account *a, const struct parse_ctx *ctx,
	   const char *text, size_t len)
{
	free(a->apop);
	a->apop = NULL;
	/* A nonce, a tag and at least one password byte: 29 bytes, which
	 * is 40 base64 characters. */
	if (len < 40 || len % 4 != 0)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		if (!isalnum(ch) && ch != '+' && ch != '/' && ch != '=')
			goto bad;
	}
	a->apop = xstrndup(text, len);
	return;
bad:
	log_warning("%s:%u: invalid apop option (expected base64 of at "
		    "least 40 characters); APOP disabled for the account",
		    ctx->path, ctx->lineno);
}

/*
 * Applies one comma-separated option. Known keys take yes or no; any other
 * value of a known key disables the service, because a typo in "imap=no"
 * must not leave IMAP open. Unknown keys are kept in the text unused.
 */
static void
apply_option(struct dir_account *a, const struct parse_ctx *ctx,
	     const char *opt, size_t len)
{
	static const char *const keys[] = {"imap", "pop3", "smtp_auth"};
	bool *flags[] = {&a->imap, &a->pop3, &a->smtp_auth};
	const char *eq = memchr(opt, '=', len);

	if (eq == NULL)
		return;
	if ((size_t)(eq - opt) == 8 && strncasecmp(opt, "cram_md5", 8) == 0) {
		apply_cram(a, ctx, eq + 1, len - 9);
		return;
	}
	if ((size_t)(eq - opt) == 4 && strncasecmp(opt, "apop", 4) == 0) {
		apply_apop(a, ctx, eq + 1, len - 5);
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		size_t klen = strlen(keys[i]);
		const char *value = eq + 1;
		size_t vlen = len - (size_t)(value - opt);

		if ((size_t)(eq - opt) != klen ||
		    strncasecmp(opt, keys[i], klen) != 0)
			continue;
		if (vlen == 3 && strncasecmp(value, "yes", 3) == 0) {
			*flags[i] = true;
		} else if (vlen == 2 && strncasecmp(value, "no", 2) == 0) {
			*flags[i] = false;
		} else {
			log_warning("%s:%u: invalid value for option %s "
				    "(expected yes or no); %s disabled",
				    ctx->path, ctx->lineno, keys[i], keys[i]);
			*flags[i] = false;
		}
	}
}

static void
parse_options(struct dir_account *a, const struct parse_ctx *ctx)
{
	const char *p = a->options;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *opt = dir_trim(p, &len);

		if (len > 0)
			apply_option(a, ctx, opt, len);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

static void
parse_account_line(struct directory *d, const struct parse_ctx *ctx,
		   const char *line, size_t len, size_t *cap)
{
	struct dir_account a = {.imap = true, .pop3 = true, .smtp_auth = true};
	const char *colon = memchr(line, ':', len);
	const char *address, *hash, *options;
	size_t alen, hlen, olen;
	char err[160];

	if (colon == NULL) {
		skip_line(ctx, "missing ':' after the address");
		return;
	}
	alen = (size_t)(colon - line);
	address = dir_trim(line, &alen);
	a.address = fold_span(address, alen);
	if (directory_check_account_address(a.address, err, sizeof(err)) < 0) {
		skip_line(ctx, err);
		free(a.address);
		return;
	}
	hash = colon + 1;
	options = memchr(hash, ':', len - (size_t)(hash - line));
	hlen = options ? (size_t)(options - hash) : len - (size_t)(hash - line);
	hash = dir_trim(hash, &hlen);
	if (hlen == 0 || memchr(hash, ' ', hlen) || memchr(hash, '\t', hlen)) {
		skip_line(ctx, hlen == 0 ? "empty password hash"
					 : "blank inside the password hash");
		free(a.address);
		return;
	}
	a.hash = xstrndup(hash, hlen);
	olen = options ? len - (size_t)(options + 1 - line) : 0;
	options = options ? dir_trim(options + 1, &olen) : "";
	a.options = xstrndup(options, olen);
	a.line = ctx->lineno;
	parse_options(&a, ctx);
	if (d->naccounts == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		d->accounts =
		    xrealloc(d->accounts, *cap * sizeof(*d->accounts));
	}
	d->accounts[d->naccounts++] = a;
}

static bool
has_target(const struct dir_alias *a, const char *target)
{
	for (size_t i = 0; i < a->ntargets; i++) {
		if (strcmp(a->targets[i], target) == 0)
			return true;
	}
	return false;
}

static void
add_target(struct dir_alias *a, char *target)
{
	if (has_target(a, target)) {
		free(target);
		return;
	}
	a->targets =
	    xrealloc(a->targets, (a->ntargets + 1) * sizeof(*a->targets));
	a->targets[a->ntargets++] = target;
}

static void
parse_alias_line(struct directory *d, const struct parse_ctx *ctx,
		 const char *line, size_t len, size_t *cap)
{
	struct dir_alias a = {.line = ctx->lineno};
	const char *colon = memchr(line, ':', len);
	const char *alias, *p, *end = line + len;
	size_t alen;
	char err[160];

	if (colon == NULL) {
		skip_line(ctx, "missing ':' after the alias");
		return;
	}
	alen = (size_t)(colon - line);
	alias = dir_trim(line, &alen);
	a.alias = fold_span(alias, alen);
	if (directory_check_address(a.alias, err, sizeof(err)) < 0) {
		skip_line(ctx, err);
		free(a.alias);
		return;
	}
	for (p = colon + 1; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t tlen = comma ? (size_t)(comma - p) : (size_t)(end - p);
		const char *t = dir_trim(p, &tlen);

		p = comma ? comma + 1 : end;
		if (tlen == 0)
			continue;
		char *target = fold_span(t, tlen);

		if (directory_check_address(target, err, sizeof(err)) < 0) {
			log_warning("%s:%u: target skipped: %s", ctx->path,
				    ctx->lineno, err);
			free(target);
			continue;
		}
		add_target(&a, target);
	}
	if (a.ntargets == 0) {
		skip_line(ctx, "no valid target");
		free_alias(&a);
		return;
	}
	if (d->naliases == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		d->aliases = xrealloc(d->aliases, *cap * sizeof(*d->aliases));
	}
	d->aliases[d->naliases++] = a;
}

static void
dedupe_domains(struct directory *d)
{
	size_t out = 0;

	if (d->ndomains == 0)
		return;

	qsort(d->domains, d->ndomains, sizeof(*d->domains), compare_strings);
	for (size_t i = 0; i < d->ndomains; i++) {
		if (out > 0 && strcmp(d->domains[out - 1], d->domains[i]) == 0)
			free(d->domains[i]);
		else
			d->domains[out++] = d->domains[i];
	}
	d->ndomains = out;
}

static void
dedupe_accounts(struct directory *d, const char *path)
{
	size_t out = 0;

	if (d->naccounts == 0)
		return;

	qsort(d->accounts, d->naccounts, sizeof(*d->accounts),
	      compare_accounts);
	for (size_t i = 0; i < d->naccounts; i++) {
		struct dir_account *prev = out ? &d->accounts[out - 1] : NULL;

		if (prev &&
		    strcmp(prev->address, d->accounts[i].address) == 0) {
			log_warning("%s:%u: account %s repeats line %u; line "
				    "skipped",
				    path, d->accounts[i].line, prev->address,
				    prev->line);
			free_account(&d->accounts[i]);
			continue;
		}
		d->accounts[out++] = d->accounts[i];
	}
	d->naccounts = out;
}

static void
merge_aliases(struct directory *d)
{
	size_t out = 0;

	if (d->naliases == 0)
		return;

	qsort(d->aliases, d->naliases, sizeof(*d->aliases), compare_aliases);
	for (size_t i = 0; i < d->naliases; i++) {
		struct dir_alias *prev = out ? &d->aliases[out - 1] : NULL;
		struct dir_alias *cur = &d->aliases[i];

		if (prev == NULL || strcmp(prev->alias, cur->alias) != 0) {
			d->aliases[out++] = *cur;
			continue;
		}
		for (size_t t = 0; t < cur->ntargets; t++)
			add_target(prev, cur->targets[t]);
		cur->ntargets = 0;
		free_alias(cur);
	}
	d->naliases = out;
}

static void
parse_table(struct directory *d, struct dir_table *t, const struct buf *text)
{
	struct parse_ctx ctx = {.path = t->path};
	const char *pos = text->data, *end = text->data + text->len;
	const char *line;
	size_t len, cap = 0;

	free_table_data(d, t->kind);
	while (dir_next_line(&pos, end, &line, &len, &ctx.lineno)) {
		line = dir_trim(line, &len);
		if (len == 0 || line[0] == '#')
			continue;
		if (memchr(line, '\0', len) != NULL) {
			skip_line(&ctx, "NUL byte in the line");
			continue;
		}
		if (t->kind == DIR_DOMAINS)
			parse_domain_line(d, &ctx, line, len, &cap);
		else if (t->kind == DIR_ACCOUNTS)
			parse_account_line(d, &ctx, line, len, &cap);
		else
			parse_alias_line(d, &ctx, line, len, &cap);
	}
	if (t->kind == DIR_DOMAINS)
		dedupe_domains(d);
	else if (t->kind == DIR_ACCOUNTS)
		dedupe_accounts(d, t->path);
	else
		merge_aliases(d);
}

static bool
same_file(const struct dir_table *t, const struct stat *st)
{
	return t->present && t->dev == st->st_dev && t->ino == st->st_ino &&
	       t->size == st->st_size &&
	       t->mtime.tv_sec == st->st_mtim.tv_sec &&
	       t->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       t->ctime.tv_sec == st->st_ctim.tv_sec &&
	       t->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static void
remember_file(struct dir_table *t, const struct stat *st)
{
	t->present = true;
	t->dev = st->st_dev;
	t->ino = st->st_ino;
	t->size = st->st_size;
	t->mtime = st->st_mtim;
	t->ctime = st->st_ctim;
}

static void
set_missing(struct directory *d, struct dir_table *t)
{
	if (!t->loaded || t->present)
		free_table_data(d, t->kind);
	t->present = false;
	t->loaded = true;
	t->failed_errno = 0;
}

/*
 * Loads t if its file changed (or always, with force). The file's text
 * goes to raw when raw is not NULL. Returns 0, or -1 with errno set.
 */
static int
load_table(struct directory *d, struct dir_table *t, bool force,
	   struct buf *raw)
{
	struct buf text = BUF_INIT;
	struct stat st;

	if (stat(t->path, &st) < 0) {
		if (errno != ENOENT)
			return -1;
		set_missing(d, t);
		return 0;
	}
	if (!force && t->loaded && same_file(t, &st))
		return 0;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if (read_file(t->path, &text, DIR_TABLE_MAX) < 0) {
		int saved = errno;

		buf_free(&text);
		errno = saved;
		if (errno != ENOENT)
			return -1;
		set_missing(d, t);
		return 0;
	}
	parse_table(d, t, &text);
	remember_file(t, &st);
	t->loaded = true;
	t->failed_errno = 0;
	if (raw != NULL) {
		buf_free(raw);
		*raw = text;
	} else {
		buf_free(&text);
	}
	return 0;
}

static void
report_failure(struct directory *d, struct dir_table *t)
{
	const char *why = errno == EFBIG    ? "larger than the table limit"
			  : errno == EINVAL ? "not a regular file"
					    : strerror(errno);

	snprintf(d->last_error, sizeof(d->last_error), "cannot read %s: %s",
		 t->path, why);
	if (t->failed_errno == errno)
		return;
	t->failed_errno = errno;
	if (t->loaded)
		log_warning("%s; still using the copy read before",
			    d->last_error);
	else
		log_error("%s", d->last_error);
}

int
dir_refresh(struct directory *d, unsigned mask)
{
	int ret = 0;

	for (int k = 0; k < DIR_NTABLES; k++) {
		struct dir_table *t = &d->tables[k];

		if (!(mask & DIR_TABLE_BIT(k)))
			continue;
		if (load_table(d, t, false, NULL) == 0)
			continue;
		report_failure(d, t);
		if (!t->loaded)
			ret = -1;
	}
	return ret;
}

int
dir_reload_all(struct directory *d, struct buf raw[DIR_NTABLES], char *err,
	       size_t errlen)
{
	for (int k = 0; k < DIR_NTABLES; k++) {
		struct dir_table *t = &d->tables[k];

		buf_reset(&raw[k]);
		if (load_table(d, t, true, &raw[k]) == 0)
			continue;
		report_failure(d, t);
		snprintf(err, errlen, "%s", d->last_error);
		return -1;
	}
	return 0;
}

void
dir_invalidate(struct dir_table *t)
{
	t->ino = 0;
	t->size = -1;
}

bool
dir_has_domain(const struct directory *d, const char *domain)
{
	if (d->ndomains == 0)
		return false;
	return bsearch(&domain, d->domains, d->ndomains, sizeof(*d->domains),
		       compare_strings) != NULL;
}

static int
compare_account_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct dir_account *)elem)->address);
}

struct dir_account *
dir_find_account(const struct directory *d, const char *address)
{
	if (d->naccounts == 0)
		return NULL;
	return bsearch(address, d->accounts, d->naccounts, sizeof(*d->accounts),
		       compare_account_key);
}

static int
compare_alias_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct dir_alias *)elem)->alias);
}

struct dir_alias *
dir_find_alias(const struct directory *d, const char *alias)
{
	if (d->naliases == 0)
		return NULL;
	return bsearch(alias, d->aliases, d->naliases, sizeof(*d->aliases),
		       compare_alias_key);
}

void
dir_free_tables(struct directory *d)
{
	for (int k = 0; k < DIR_NTABLES; k++)
		free_table_data(d, (enum dir_table_kind)k);
}
