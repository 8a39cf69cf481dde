/*
 * directory_file - internals of the file backend shared by its lookup code
 * (directory.c) and its edit code (directory_edit.c); not a public API.
 */
#ifndef HAPOST_DIRECTORY_FILE_H
#define HAPOST_DIRECTORY_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "directory.h"

/* A table larger than this is rejected rather than read into memory. */
#define DIR_TABLE_MAX ((size_t)256 << 20)
/* Alias levels followed by directory_resolve_rcpt(). */
#define DIR_ALIAS_DEPTH 10

enum dir_table_kind { DIR_DOMAINS, DIR_ACCOUNTS, DIR_ALIASES, DIR_NTABLES };

/* One table file and the identity of the copy parsed from it. */
struct dir_table {
	enum dir_table_kind kind;
	const char *name;
	char *path;
	bool loaded;  /* the parsed data matches a read (or absent) file */
	bool present; /* the file existed at that read */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	int failed_errno; /* errno of the last reported read failure */
};

struct dir_account {
	char *address;
	char *hash;
	char *options; /* as written, for rewriting and "account show" */
	bool imap;
	bool pop3;
	bool smtp_auth;
	bool has_cram;	/* a valid cram_md5 option was found */
	unsigned char cram[DIR_CRAM_STATE_LEN];
	char *apop;	/* the sealed APOP secret (base64), or NULL */
	unsigned line;
};

struct dir_alias {
	char *alias;
	char **targets;
	size_t ntargets;
	unsigned line;
};

struct directory {
	char *data_dir;
	char *table_dir; /* DATA_DIR/directory */
	char *mail_dir;	 /* DATA_DIR/mail */
	struct dir_table tables[DIR_NTABLES];

	/* Parsed tables, each sorted by its name field. */
	char **domains;
	size_t ndomains;
	struct dir_account *accounts;
	size_t naccounts;
	struct dir_alias *aliases;
	size_t naliases;

	char *dummy_hash; /* verified for unknown users to even out timing */
	char last_error[256];
};

#define DIR_TABLE_BIT(kind) (1u << (kind))
#define DIR_ALL_TABLES                                                         \
	(DIR_TABLE_BIT(DIR_DOMAINS) | DIR_TABLE_BIT(DIR_ACCOUNTS) |            \
	 DIR_TABLE_BIT(DIR_ALIASES))

/*
 * Brings the tables in mask up to date with their files (a stat each, a
 * read when one changed). Returns 0, or -1 with d->last_error set when a
 * table could not be read and no earlier copy exists.
 */
int dir_refresh(struct directory *d, unsigned mask);
/*
 * Re-reads every table unconditionally and stores each file's text in
 * raw[kind] (empty for a missing file). For the edit functions, which
 * hold the edit lock. Returns 0 or -1 with err.
 */
int dir_reload_all(struct directory *d, struct buf raw[DIR_NTABLES], char *err,
		   size_t errlen);
/* Forgets the identity of t so the next dir_refresh() re-reads it. */
void dir_invalidate(struct dir_table *t);
void dir_free_tables(struct directory *d);

bool dir_has_domain(const struct directory *d, const char *domain);
struct dir_account *dir_find_account(const struct directory *d,
				     const char *address);
struct dir_alias *dir_find_alias(const struct directory *d, const char *alias);

/* Returns a lowercase (ASCII) copy of s. */
char *dir_fold(const char *s);
/* Returns the text after the last '@', or NULL. */
const char *dir_domain_of(const char *address);

/*
 * Steps through text one line at a time: *line and *len get the next
 * line without its LF, and *lineno its number. Returns false at the end.
 */
bool dir_next_line(const char **pos, const char *end, const char **line,
		   size_t *len, unsigned *lineno);
/* Trims ASCII whitespace (and a CR) from both ends of line[0..*len). */
const char *dir_trim(const char *line, size_t *len);

#endif
