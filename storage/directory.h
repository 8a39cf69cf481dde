/*
 * directory - domains, accounts and aliases
 *
 * One interface, several backends. The file backend (the embedded
 * default) keeps plain-text tables under DATA_DIR/directory:
 *   domains    one domain per line
 *   accounts   address:password-hash:options, options comma-separated
 *              (imap=no, pop3=no, smtp_auth=no, cram_md5=HEX,
 *              apop=BASE64; anything else is kept). cram_md5 holds the
 *              CRAM-MD5 key state (64 hex digits, see sasl.h), which is
 *              as secret as the password for CRAM-MD5. apop holds the
 *              password sealed with the site key (see site_key.h). Only
 *              --legacy-auth writes them.
 *   aliases    alias: target, target, ...
 * Each table is rewritten atomically by the directory_* edit functions and
 * re-read by readers when its mtime or size changes, so edits take effect
 * without a restart. Lookups are case-insensitive: addresses are stored
 * lowercase.
 *
 * Every account's mail lives in DATA_DIR/mail/DOMAIN/LOCALPART/ as a
 * Maildir++ root.
 *
 * Names: a domain is LDH labels (letters, digits, hyphens, at most 63
 * octets each, no hyphen at either end), at most 253 octets, no trailing
 * dot, and a last label that is not all digits. An address is
 * local@domain where the local part is an RFC 5321 dot-atom of at most 64
 * octets. Quoted local parts and non-ASCII addresses are rejected. An
 * account's local part may not contain '/', because it names a directory.
 * The edit functions fold names to lowercase before they check them.
 */
#ifndef HAPOST_DIRECTORY_H
#define HAPOST_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct directory;
struct site_key;

struct account {
	char *address;	/* lowercase local@domain */
	char *maildir;	/* absolute path of the Maildir++ root */
	bool imap_enabled;
	bool pop3_enabled;
	bool smtp_auth_enabled;
};

enum dir_result {
	DIR_OK = 1,	    /* found / authenticated */
	DIR_NOT_FOUND = 0,  /* local domain, no such user; or bad password */
	DIR_NOT_LOCAL = -1, /* the domain is not ours */
	DIR_TEMPFAIL = -2,  /* the table could not be read */
};

/* Opens the file backend under data_dir without reading the tables,
 * which may appear later. It never returns NULL: running out of memory
 * exits the process (xalloc.h). */
struct directory *directory_open_file(const char *data_dir);
void directory_close(struct directory *d);

bool directory_domain_is_local(struct directory *d, const char *domain);
/*
 * Resolves a recipient address (aliases followed, at most 10 levels and
 * loop-safe) to account addresses. On DIR_OK, *out is a malloc'd array of
 * malloc'd strings. An alias target outside our domains is kept as is
 * (for forwarding later).
 */
enum dir_result directory_resolve_rcpt(struct directory *d,
				       const char *address, char ***out,
				       size_t *n);
void directory_free_list(char **list, size_t n);
/* Looks up one account; fills *acct (free with account_free). */
enum dir_result directory_get_account(struct directory *d,
				      const char *address,
				      struct account *acct);
void account_free(struct account *acct);
/*
 * Checks a password. user is a full address; a bare local part matches if
 * exactly one local domain has that account. On DIR_OK *acct is filled.
 */
enum dir_result directory_authenticate(struct directory *d, const char *user,
				       const char *password,
				       struct account *acct);

/* Bytes of the CRAM-MD5 key state; equals SASL_CRAM_STATE_LEN. */
#define DIR_CRAM_STATE_LEN 32
/*
 * Looks up user (as directory_authenticate does) and its CRAM-MD5 key
 * state. DIR_NOT_FOUND also when the account has no cram_md5 option. On
 * DIR_OK *acct is filled.
 */
enum dir_result directory_cram_md5(struct directory *d, const char *user,
				   unsigned char state[DIR_CRAM_STATE_LEN],
				   struct account *acct);

/*
 * Looks up user (as directory_authenticate does) and its sealed APOP
 * secret, returned in *sealed (malloc'd base64). DIR_NOT_FOUND also when
 * the account has no apop option. On DIR_OK *acct is filled.
 */
enum dir_result directory_apop_secret(struct directory *d, const char *user,
				      char **sealed, struct account *acct);

/* Edits, used by hapostctl. Return 0, or -1 with a message in err. */
int directory_domain_add(struct directory *d, const char *domain, char *err,
			 size_t errlen);
int directory_domain_del(struct directory *d, const char *domain, char *err,
			 size_t errlen);
int directory_domain_list(struct directory *d, char ***out, size_t *n);
int directory_account_add(struct directory *d, const char *address,
			  const char *password, char *err, size_t errlen);
int directory_account_del(struct directory *d, const char *address, char *err,
			  size_t errlen);
/* Turns an account's imap, pop3 or smtp_auth switch on or off. */
int directory_account_set(struct directory *d, const char *address,
			  const char *name, bool on, char *err,
			  size_t errlen);
/* Sets a new password hash and drops any cram_md5 and apop option, which
 * would still match the old password. */
int directory_account_passwd(struct directory *d, const char *address,
			     const char *password, char *err, size_t errlen);
/*
 * Stores the CRAM-MD5 key state of password in the cram_md5 option and,
 * with a site_key, the password sealed with it (the folded address as the
 * additional data) in the apop option. Without a site_key any old apop
 * option is dropped.
 */
int directory_account_legacy_auth(struct directory *d, const char *address,
				  const char *password,
				  const struct site_key *site_key, char *err,
				  size_t errlen);
int directory_account_list(struct directory *d, const char *domain,
			   char ***out, size_t *n);
int directory_alias_add(struct directory *d, const char *alias,
			const char *target, char *err, size_t errlen);
int directory_alias_del(struct directory *d, const char *alias,
			const char *target, char *err, size_t errlen);
/* Lists "alias: target, ..." lines. */
int directory_alias_list(struct directory *d, char ***out, size_t *n);
/*
 * Appends "key: value" lines describing one account (address, maildir,
 * imap, pop3, smtp_auth, legacy_auth, cram_md5_secret, apop_secret,
 * options, aliases that name it) to out. Neither the password hash nor the
 * cram_md5 and apop values are shown.
 */
int directory_account_show(struct directory *d, const char *address,
			   struct buf *out, char *err, size_t errlen);
/*
 * Returns the reason the last failed list function (domain, account or
 * alias list) returned -1; "" when none failed.
 */
const char *directory_last_error(struct directory *d);

/* Check a name against the rules above. Return 0, or -1 with err set. */
int directory_check_domain(const char *domain, char *err, size_t errlen);
int directory_check_address(const char *address, char *err, size_t errlen);
int directory_check_account_address(const char *address, char *err,
				    size_t errlen);

/*
 * The longest password password_hash() accepts: libxcrypt's crypt_r()
 * takes at most CRYPT_MAX_PASSPHRASE_SIZE - 1 bytes.
 */
#define PASSWORD_MAX_LEN 511

/*
 * Hashes a password with SHA-512-crypt and a random salt; malloc'd. Returns
 * NULL (errno set) for an empty password, one longer than
 * PASSWORD_MAX_LEN, or when libcrypt fails.
 */
char *password_hash(const char *password);
/* Returns true if password matches hash (constant-time compare). */
bool password_verify(const char *password, const char *hash);

#endif
