/*
 * directory_edit - changes to the file backend's tables (used by hapostctl)
 *
 * Every edit takes an exclusive open-file-description lock (F_OFD_SETLKW)
 * on DATA_DIR/directory/.lock, re-reads all tables, checks the change
 * against them, and replaces the changed table with write_file_atomic()
 * (temporary file, fsync, rename, directory fsync). Two hapostctl runs at
 * once therefore apply one after the other, and neither loses the other's
 * change. Readers never lock, and the rename shows them a whole table.
 *
 * The edit works on the file's lines, so comments, blank lines and lines
 * that do not parse stay as they were; only the lines of the changed name
 * are removed, rewritten or appended. Tables are written with mode 0640,
 * except accounts (password hashes) with 0600, owned by the caller:
 * hapostctl switches to the daemon's user before it edits.
 *
 * Adding an account creates its Maildir++ root DATA_DIR/mail/DOMAIN/LOCAL
 * with cur/, new/ and tmp/ (mode 0700, fsync'd) before the account line
 * is written, so an account never exists without its mailbox. Deleting
 * an account or a domain leaves the mail on disk.
 *
 * In replicated mode the new table is committed to the replicator
 * between the fsync of its temporary file and the rename, and a new
 * Maildir's directories before they are made. A refused commit fails
 * the edit with nothing changed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directory_file.h"
#include "fsutil.h"
#include "repl_write.h"
#include "sasl/sasl.h"
#include "sasl/site_key.h"
#include "xalloc.h"

struct edit {
	struct directory *d;
	int lock_fd;
	struct buf raw[DIR_NTABLES];
};

static int
lock_tables(struct directory *d, char *err, size_t errlen)
{
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	struct repl_batch *b = NULL;
	char *path;
	int fd;

	repl_write_add_mkdirs(&b, d->table_dir, NULL, 0750);
	if (repl_write_commit(b, err, errlen) < 0)
		return -1;
	if (mkdir_p(d->table_dir, 0750) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", d->table_dir,
			 strerror(errno));
		return -1;
	}
	path = xasprintf("%s/.lock", d->table_dir);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path,
			  O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			  0600);
		if (fd >= 0)
			repl_write_created_file(path);
		else if (errno == EEXIST)
			fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 strerror(errno));
		free(path);
		return -1;
	}
	while (fcntl(fd, F_OFD_SETLKW, &lk) < 0) {
		if (errno == EINTR)
			continue;
		snprintf(err, errlen, "cannot lock %s: %s", path,
			 strerror(errno));
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

static int
edit_begin(struct directory *d, struct edit *e, char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	e->d = d;
	e->lock_fd = lock_tables(d, err, errlen);
	if (e->lock_fd < 0)
		return -1;
	if (dir_reload_all(d, e->raw, err, errlen) < 0) {
		close(e->lock_fd);
		for (int k = 0; k < DIR_NTABLES; k++)
			buf_free(&e->raw[k]);
		return -1;
	}
	return 0;
}

/* Releases the lock: closing the descriptor drops the OFD lock. */
static void
edit_end(struct edit *e)
{
	close(e->lock_fd);
	for (int k = 0; k < DIR_NTABLES; k++)
		buf_free(&e->raw[k]);
}

static int
edit_write(struct edit *e, enum dir_table_kind kind, struct buf *text,
	   char *err, size_t errlen)
{
	struct dir_table *t = &e->d->tables[kind];
	mode_t mode = kind == DIR_ACCOUNTS ? 0600 : 0640;

	char why[512];

	if (repl_write_file_atomic(t->path, text->data ? text->data : "",
				   text->len, mode, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", t->path,
			 repl_write_refused() ? why : strerror(errno));
		return -1;
	}
	dir_invalidate(t);
	return 0;
}

/*
 * Returns the folded name a table line is about: the whole line for
 * domains, the text before the first ':' otherwise. NULL for blank lines
 * and comments.
 */
static char *
line_key(enum dir_table_kind kind, const char *line, size_t len)
{
	const char *colon;
	char *raw, *key;

	line = dir_trim(line, &len);
	if (len == 0 || line[0] == '#')
		return NULL;
	colon = kind == DIR_DOMAINS ? NULL : memchr(line, ':', len);
	if (colon != NULL) {
		len = (size_t)(colon - line);
		line = dir_trim(line, &len);
	}
	raw = xstrndup(line, len);
	key = dir_fold(raw);
	free(raw);
	return key;
}

/*
 * Replaces each line of e->raw[kind] whose name is key with what rewrite
 * appends to out (nothing deletes it); copies every other line as is.
 */
typedef void line_rewrite_fn(struct buf *out, const char *line, size_t len,
			     const void *arg);

static void
rewrite_lines(struct edit *e, enum dir_table_kind kind, const char *key,
	      line_rewrite_fn *rewrite, const void *arg, struct buf *out)
{
	const struct buf *raw = &e->raw[kind];
	const char *pos = raw->data, *end = raw->data + raw->len;
	const char *line;
	size_t len;
	unsigned lineno = 0;

	while (dir_next_line(&pos, end, &line, &len, &lineno)) {
		char *k = line_key(kind, line, len);

		if (k != NULL && strcmp(k, key) == 0) {
			if (rewrite != NULL)
				rewrite(out, line, len, arg);
		} else {
			buf_append(out, line, len);
			buf_putc(out, '\n');
		}
		free(k);
	}
}

/* Copies e->raw[kind] to out, ending it with a newline if needed. */
static void
copy_table(struct edit *e, enum dir_table_kind kind, struct buf *out)
{
	const struct buf *raw = &e->raw[kind];

	buf_append(out, raw->data, raw->len);
	if (raw->len > 0 && raw->data[raw->len - 1] != '\n')
		buf_putc(out, '\n');
}

static int
check_password(const char *password, char *err, size_t errlen)
{
	if (password[0] == '\0') {
		snprintf(err, errlen, "empty password");
		return -1;
	}
	if (strlen(password) > PASSWORD_MAX_LEN) {
		snprintf(err, errlen, "password longer than %d bytes",
			 PASSWORD_MAX_LEN);
		return -1;
	}
	if (strpbrk(password, "\r\n") != NULL) {
		snprintf(err, errlen, "line break in the password");
		return -1;
	}
	return 0;
}

int
directory_domain_add(struct directory *d, const char *domain, char *err,
		     size_t errlen)
{
	char *name = dir_fold(domain);
	struct buf out = BUF_INIT;
	struct edit e;
	int ret = -1;

	if (directory_check_domain(name, err, errlen) < 0 ||
	    edit_begin(d, &e, err, errlen) < 0)
		goto done;
	if (dir_has_domain(d, name)) {
		snprintf(err, errlen, "domain already exists");
	} else {
		copy_table(&e, DIR_DOMAINS, &out);
		buf_printf(&out, "%s\n", name);
		ret = edit_write(&e, DIR_DOMAINS, &out, err, errlen);
	}
	edit_end(&e);
done:
	buf_free(&out);
	free(name);
	return ret;
}

static size_t
count_accounts_in(const struct directory *d, const char *domain)
{
	size_t count = 0;

	for (size_t i = 0; i < d->naccounts; i++) {
		if (strcmp(dir_domain_of(d->accounts[i].address), domain) == 0)
			count++;
	}
	return count;
}

static size_t
count_aliases_in(const struct directory *d, const char *domain)
{
	size_t count = 0;

	for (size_t i = 0; i < d->naliases; i++) {
		if (strcmp(dir_domain_of(d->aliases[i].alias), domain) == 0)
			count++;
	}
	return count;
}

int
directory_domain_del(struct directory *d, const char *domain, char *err,
		     size_t errlen)
{
	char *name = dir_fold(domain);
	struct buf out = BUF_INIT;
	size_t accounts, aliases;
	struct edit e;
	int ret = -1;

	if (directory_check_domain(name, err, errlen) < 0 ||
	    edit_begin(d, &e, err, errlen) < 0)
		goto done;
	accounts = count_accounts_in(d, name);
	aliases = count_aliases_in(d, name);
	if (!dir_has_domain(d, name)) {
		snprintf(err, errlen, "domain not found");
	} else if (accounts > 0) {
		snprintf(err, errlen,
			 "domain still has %zu account(s); delete them first "
			 "(hapostctl account list %s)",
			 accounts, name);
	} else if (aliases > 0) {
		snprintf(err, errlen,
			 "domain still has %zu alias(es); delete them first "
			 "(hapostctl alias list)",
			 aliases);
	} else {
		rewrite_lines(&e, DIR_DOMAINS, name, NULL, NULL, &out);
		ret = edit_write(&e, DIR_DOMAINS, &out, err, errlen);
	}
	edit_end(&e);
done:
	buf_free(&out);
	free(name);
	return ret;
}

/* Creates dir (mode 0700) unless a directory, not a symlink, is there. */
static int
make_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno == EEXIST && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (errno == EEXIST)
		snprintf(err, errlen, "%s exists and is not a directory", dir);
	else
		snprintf(err, errlen, "cannot create %s: %s", dir,
			 strerror(errno));
	return -1;
}

static int
create_maildir(struct directory *d, const char *address, char *err,
	       size_t errlen)
{
	static const char *const subdirs[] = {"cur", "new", "tmp", NULL};
	const char *domain = dir_domain_of(address);
	int local_len = (int)(domain - 1 - address);
	char *domain_dir = xasprintf("%s/%s", d->mail_dir, domain);
	char *root = xasprintf("%s/%.*s", domain_dir, local_len, address);
	struct repl_batch *b = NULL;
	int ret = -1;

	/* tmp/ is node-local: repl_write_add_mkdirs() skips it. */
	repl_write_add_mkdirs(&b, root, subdirs, 0700);
	if (repl_write_commit(b, err, errlen) < 0)
		goto done;
	if (mkdir_p(domain_dir, 0700) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", domain_dir,
			 strerror(errno));
		goto done;
	}
	if (make_dir(root, err, errlen) < 0)
		goto done;
	for (size_t i = 0; i < 3; i++) {
		char *sub = xasprintf("%s/%s", root, subdirs[i]);
		int r = make_dir(sub, err, errlen);

		free(sub);
		if (r < 0)
			goto done;
	}
	if (fsync_dir(root) < 0 || fsync_dir(domain_dir) < 0 ||
	    fsync_dir(d->mail_dir) < 0 || fsync_dir(d->data_dir) < 0) {
		snprintf(err, errlen, "cannot fsync the directories of %s: %s",
			 root, strerror(errno));
		goto done;
	}
	ret = 0;
done:
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	free(root);
	free(domain_dir);
	return ret;
}

int
directory_account_add(struct directory *d, const char *address,
		      const char *password, char *err, size_t errlen)
{
	char *name = dir_fold(address);
	const char *domain = dir_domain_of(name);
	struct buf out = BUF_INIT;
	char *hash = NULL;
	struct edit e;
	int ret = -1;

	if (directory_check_account_address(name, err, errlen) < 0 ||
	    check_password(password, err, errlen) < 0 ||
	    edit_begin(d, &e, err, errlen) < 0)
		goto done;
	if (!dir_has_domain(d, domain)) {
		snprintf(err, errlen,
			 "domain %s is not a local domain; add it first "
			 "(hapostctl domain add %s)",
			 domain, domain);
	} else if (dir_find_account(d, name) != NULL) {
		snprintf(err, errlen, "account already exists");
	} else if (dir_find_alias(d, name) != NULL) {
		snprintf(err, errlen,
			 "an alias with this address exists; delete it first "
			 "(hapostctl alias del %s)",
			 name);
	} else if ((hash = password_hash(password)) == NULL) {
		snprintf(err, errlen, "cannot hash the password: %s",
			 strerror(errno));
	} else if (create_maildir(d, name, err, errlen) == 0) {
		copy_table(&e, DIR_ACCOUNTS, &out);
		buf_printf(&out, "%s:%s:\n", name, hash);
		ret = edit_write(&e, DIR_ACCOUNTS, &out, err, errlen);
	}
	edit_end(&e);
done:
	free(hash);
	free(name);
	buf_free(&out);
	return ret;
}

static int
edit_account_lines(struct directory *d, const char *address,
		   line_rewrite_fn *rewrite, const void *arg, char *err,
		   size_t errlen)
{
	char *name = dir_fold(address);
	struct buf out = BUF_INIT;
	struct edit e;
	int ret = -1;

	if (directory_check_address(name, err, errlen) < 0 ||
	    edit_begin(d, &e, err, errlen) < 0)
		goto done;
	if (dir_find_account(d, name) == NULL) {
		snprintf(err, errlen, "account not found");
	} else {
		rewrite_lines(&e, DIR_ACCOUNTS, name, rewrite, arg, &out);
		ret = edit_write(&e, DIR_ACCOUNTS, &out, err, errlen);
	}
	edit_end(&e);
done:
	buf_free(&out);
	free(name);
	return ret;
}

int
directory_account_del(struct directory *d, const char *address, char *err,
		      size_t errlen)
{
	return edit_account_lines(d, address, NULL, NULL, err, errlen);
}

/* Returns true for an option that holds a legacy secret. */
static bool
is_secret_option(const char *t, size_t tlen)
{
	return (tlen >= 9 && strncasecmp(t, "cram_md5=", 9) == 0) ||
	       (tlen >= 5 && strncasecmp(t, "apop=", 5) == 0);
}

/* Appends the comma-separated options without cram_md5 and apop. */
static void
append_options_without_secrets(struct buf *out, const char *opts, size_t len)
{
	bool first = true;

	while (len > 0) {
		const char *comma = memchr(opts, ',', len);
		size_t one = comma ? (size_t)(comma - opts) : len;
		size_t tlen = one;
		const char *t = dir_trim(opts, &tlen);

		if (tlen > 0 && !is_secret_option(t, tlen)) {
			if (!first)
				buf_putc(out, ',');
			buf_append(out, t, tlen);
			first = false;
		}
		opts += one;
		len -= one;
		if (len > 0) {
			opts++;
			len--;
		}
	}
}

/* New secrets of an account line. */
struct account_secrets {
	const char *hash; /* NULL: keep the hash */
	const char *cram; /* hex, or NULL to drop cram_md5 */
	const char *apop; /* sealed base64, or NULL to drop apop */
};

/* Rewrites an account line with the secrets in arg; the address and the
 * other options are kept. */
static void
replace_secrets(struct buf *out, const char *line, size_t len,
		const void *arg)
{
	const struct account_secrets *sec = arg;
	const char *first = memchr(line, ':', len);
	const char *second =
	    first ? memchr(first + 1, ':', len - (size_t)(first + 1 - line))
		  : NULL;
	size_t start;

	if (first == NULL)
		return;
	buf_append(out, line, (size_t)(first - line));
	if (sec->hash != NULL)
		buf_printf(out, ":%s:", sec->hash);
	else if (second != NULL)
		buf_append(out, first, (size_t)(second - first) + 1);
	else
		buf_printf(out, "%.*s:", (int)(len - (size_t)(first - line)),
			   first);
	start = out->len;
	if (second != NULL)
		append_options_without_secrets(out, second + 1,
					    len - (size_t)(second + 1 - line));
	if (sec->cram != NULL)
		buf_printf(out, "%scram_md5=%s", out->len > start ? "," : "",
			   sec->cram);
	if (sec->apop != NULL)
		buf_printf(out, "%sapop=%s", out->len > start ? "," : "",
			   sec->apop);
	buf_putc(out, '\n');
}

int
directory_account_passwd(struct directory *d, const char *address,
			 const char *password, char *err, size_t errlen)
{
	char *hash;
	int ret;

	if (check_password(password, err, errlen) < 0)
		return -1;
	hash = password_hash(password);
	if (hash == NULL) {
		snprintf(err, errlen, "cannot hash the password: %s",
			 strerror(errno));
		return -1;
	}
	{
		struct account_secrets sec = {hash, NULL, NULL};

		ret = edit_account_lines(d, address, replace_secrets, &sec, err,
					 errlen);
	}
	free(hash);
	return ret;
}

int
directory_account_legacy_auth(struct directory *d, const char *address,
			      const char *password,
			      const struct site_key *site_key, char *err,
			      size_t errlen)
{
	unsigned char state[SASL_CRAM_STATE_LEN];
	char hex[2 * SASL_CRAM_STATE_LEN + 1];
	struct account_secrets sec = {NULL, hex, NULL};
	struct buf sealed = BUF_INIT;
	char *folded = NULL;
	int ret = -1;

	if (check_password(password, err, errlen) < 0)
		return -1;
	if (site_key != NULL) {
		folded = dir_fold(address);
		if (site_key_seal(site_key, folded, password, strlen(password),
				  &sealed) < 0) {
			snprintf(err, errlen, "encrypting the APOP secret "
					      "failed");
			goto done;
		}
		sec.apop = buf_cstr(&sealed);
	}
	sasl_cram_md5_precompute(password, state);
	for (size_t i = 0; i < sizeof(state); i++)
		snprintf(hex + 2 * i, 3, "%02x", state[i]);
	ret = edit_account_lines(d, address, replace_secrets, &sec, err,
				 errlen);
done:
	explicit_bzero(state, sizeof(state));
	explicit_bzero(hex, sizeof(hex));
	buf_free(&sealed);
	free(folded);
	return ret;
}

/* The switch to set in an account line's options. */
struct account_switch {
	const char *name; /* "imap", "pop3" or "smtp_auth" */
	bool on;
};

/* Rewrites an account line without any NAME= option, then adds NAME=no
 * when the switch is off (on is the default). */
static void
replace_switch(struct buf *out, const char *line, size_t len,
	       const void *arg)
{
	const struct account_switch *sw = arg;
	const char *first = memchr(line, ':', len);
	const char *second =
	    first ? memchr(first + 1, ':', len - (size_t)(first + 1 - line))
		  : NULL;
	size_t nlen = strlen(sw->name), start;
	const char *opts;
	size_t olen;

	if (second == NULL) {
		buf_append(out, line, len);
		buf_putc(out, '\n');
		return;
	}
	buf_append(out, line, (size_t)(second - line) + 1);
	start = out->len;
	opts = second + 1;
	olen = len - (size_t)(opts - line);
	while (olen > 0) {
		const char *comma = memchr(opts, ',', olen);
		size_t one = comma ? (size_t)(comma - opts) : olen;
		size_t tlen = one;
		const char *t = dir_trim(opts, &tlen);

		if (tlen > 0 &&
		    !(tlen > nlen && strncmp(t, sw->name, nlen) == 0 &&
		      t[nlen] == '=')) {
			if (out->len > start)
				buf_putc(out, ',');
			buf_append(out, t, tlen);
		}
		opts += one;
		olen -= one;
		if (olen > 0) {
			opts++;
			olen--;
		}
	}
	if (!sw->on)
		buf_printf(out, "%s%s=no", out->len > start ? "," : "",
			   sw->name);
	buf_putc(out, '\n');
}

int
directory_account_set(struct directory *d, const char *address,
		      const char *name, bool on, char *err, size_t errlen)
{
	struct account_switch sw = {name, on};

	if (strcmp(name, "imap") != 0 && strcmp(name, "pop3") != 0 &&
	    strcmp(name, "smtp_auth") != 0) {
		snprintf(err, errlen,
			 "unknown switch '%s': use imap, pop3 or smtp_auth",
			 name);
		return -1;
	}
	return edit_account_lines(d, address, replace_switch, &sw, err,
				  errlen);
}

/* Appends ", target" to the first line of the alias. */
struct alias_extend {
	const char *target;
	bool done;
};

static void
extend_alias(struct buf *out, const char *line, size_t len, const void *arg)
{
	struct alias_extend *ext = (struct alias_extend *)arg;
	size_t trimmed = len;
	const char *start = dir_trim(line, &trimmed);

	buf_append(out, line, (size_t)(start - line) + trimmed);
	if (!ext->done)
		buf_printf(out, ", %s", ext->target);
	buf_putc(out, '\n');
	ext->done = true;
}

int
directory_alias_add(struct directory *d, const char *alias, const char *target,
		    char *err, size_t errlen)
{
	char *name = dir_fold(alias);
	char *to = dir_fold(target);
	struct dir_alias *entry;
	struct buf out = BUF_INIT;
	char why[160];
	struct edit e;
	int ret = -1;

	if (directory_check_address(name, err, errlen) < 0)
		goto done;
	if (directory_check_address(to, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "target: %s", why);
		goto done;
	}
	if (strcmp(name, to) == 0) {
		snprintf(err, errlen, "an alias cannot point to itself");
		goto done;
	}
	if (edit_begin(d, &e, err, errlen) < 0)
		goto done;
	entry = dir_find_alias(d, name);
	if (!dir_has_domain(d, dir_domain_of(name))) {
		snprintf(err, errlen,
			 "domain %s is not a local domain; add it first "
			 "(hapostctl domain add %s)",
			 dir_domain_of(name), dir_domain_of(name));
	} else if (dir_find_account(d, name) != NULL) {
		snprintf(err, errlen,
			 "an account with this address exists, and an "
			 "account takes precedence over an alias");
	} else if (entry != NULL) {
		bool present = false;

		for (size_t i = 0; i < entry->ntargets; i++)
			present = present || strcmp(entry->targets[i], to) == 0;
		if (present) {
			snprintf(err, errlen, "alias already has target %s",
				 to);
		} else {
			struct alias_extend ext = {.target = to};

			rewrite_lines(&e, DIR_ALIASES, name, extend_alias, &ext,
				      &out);
			ret = edit_write(&e, DIR_ALIASES, &out, err, errlen);
		}
	} else {
		copy_table(&e, DIR_ALIASES, &out);
		buf_printf(&out, "%s: %s\n", name, to);
		ret = edit_write(&e, DIR_ALIASES, &out, err, errlen);
	}
	edit_end(&e);
done:
	buf_free(&out);
	free(name);
	free(to);
	return ret;
}

/* Writes the alias line again without one target; drops it if empty. */
static void
remove_target(struct buf *out, const char *line, size_t len, const void *arg)
{
	const char *target = arg;
	const char *colon = memchr(line, ':', len);
	const char *p, *end = line + len;
	struct buf rest = BUF_INIT;
	unsigned kept = 0;

	if (colon == NULL)
		return;
	for (p = colon + 1; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t tlen = comma ? (size_t)(comma - p) : (size_t)(end - p);
		const char *t = dir_trim(p, &tlen);
		char *raw, *folded;

		p = comma ? comma + 1 : end;
		if (tlen == 0)
			continue;
		raw = xstrndup(t, tlen);
		folded = dir_fold(raw);
		if (strcmp(folded, target) != 0) {
			buf_printf(&rest, "%s%s", kept ? ", " : " ", raw);
			kept++;
		}
		free(folded);
		free(raw);
	}
	if (kept > 0) {
		buf_append(out, line, (size_t)(colon + 1 - line));
		buf_append(out, rest.data, rest.len);
		buf_putc(out, '\n');
	}
	buf_free(&rest);
}

int
directory_alias_del(struct directory *d, const char *alias, const char *target,
		    char *err, size_t errlen)
{
	char *name = dir_fold(alias);
	char *to = target ? dir_fold(target) : NULL;
	struct dir_alias *entry;
	struct buf out = BUF_INIT;
	bool present = false;
	struct edit e;
	int ret = -1;

	if (directory_check_address(name, err, errlen) < 0 ||
	    edit_begin(d, &e, err, errlen) < 0)
		goto done;
	entry = dir_find_alias(d, name);
	for (size_t i = 0; entry && to && i < entry->ntargets; i++)
		present = present || strcmp(entry->targets[i], to) == 0;
	if (entry == NULL) {
		snprintf(err, errlen, "alias not found");
	} else if (to != NULL && !present) {
		snprintf(err, errlen, "alias has no target %s", to);
	} else {
		rewrite_lines(&e, DIR_ALIASES, name, to ? remove_target : NULL,
			      to, &out);
		ret = edit_write(&e, DIR_ALIASES, &out, err, errlen);
	}
	edit_end(&e);
done:
	buf_free(&out);
	free(name);
	free(to);
	return ret;
}
