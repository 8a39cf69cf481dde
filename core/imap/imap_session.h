/*
 * imap_session - state of one IMAP connection, shared by the command files
 *
 * Not an interface for other modules: they use imap_ops (worker.h).
 */
#ifndef HAPOST_IMAP_SESSION_H
#define HAPOST_IMAP_SESSION_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "conn.h"
#include "directory.h"
#include "imap_frame.h"
#include "imap_notify.h"
#include "imap_parse.h"
#include "maildir.h"

#define IMAP_CAPABILITIES                                                      \
	"IMAP4rev1 LITERAL+ IDLE UIDPLUS MOVE NAMESPACE ID UNSELECT "          \
	"CHILDREN"

struct imap_session;

/*
 * Returns the capability list for the session's state: IMAP_CAPABILITIES
 * plus STARTTLS and LOGINDISABLED before login where they apply. The
 * string stays valid until the next call.
 */
const char *imap_capabilities(const struct imap_session *s);

/* The largest literal accepted before login (octets). */
#define IMAP_PREAUTH_LITERAL_MAX 8192

enum imap_state {
	IMAP_NOT_AUTHENTICATED = 1,
	IMAP_AUTHENTICATED = 2,
	IMAP_SELECTED = 4,
};

/* Untagged updates a command may carry (RFC 3501 section 7.4.1). */
enum imap_updates {
	IMAP_UPDATES_ALL,
	IMAP_UPDATES_NONE, /* FETCH, STORE, SEARCH: no EXPUNGE, no sync */
};

struct fetch_job;

struct imap_session {
	struct conn *c;
	enum imap_state state;
	struct imap_frame frame;
	struct buf cmd;
	struct imap_parser parser;
	bool parser_live;

	/* the command being run */
	char *tag;
	bool uid;
	enum imap_updates updates;
	bool busy;	    /* a command runs asynchronously; reading paused */
	bool out_paused;    /* reading paused until c->out drains */

	unsigned bad_in_a_row;
	unsigned auth_failures;
	ev_timer delay;	    /* delays the NO of a failed LOGIN */

	struct account acct;
	bool have_acct;

	struct mailbox *mb; /* the selected mailbox */
	bool readonly;
	size_t keywords_announced; /* keyword slots shown in FLAGS */
	struct imap_watcher watcher;
	bool watching;

	struct fetch_job *fetch;
	char *idle_tag;	    /* set while IDLE runs */

	/* AUTHENTICATE in progress (imap_authenticate.c). */
	struct sasl_server *sasl;
	char *auth_tag;
};

/* Replies. imap_ok sends the allowed untagged updates first. */
void imap_ok(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void imap_no(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void imap_bad(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Replies BAD with the parser's message. */
void imap_bad_parse(struct imap_session *s, struct imap_parser *p);
/* Ends the command that went asynchronous and resumes reading. */
void imap_command_done(struct imap_session *s);
/* Marks the command asynchronous; reading stops until it is done. */
void imap_command_async(struct imap_session *s);

/*
 * Syncs the selected mailbox if it changed and sends EXPUNGE, EXISTS,
 * RECENT, FLAGS and FETCH FLAGS responses for what changed.
 */
void imap_send_updates(struct imap_session *s);
/* Sends FLAGS and PERMANENTFLAGS for the selected mailbox. */
void imap_send_flags(struct imap_session *s);
/* Closes the selected mailbox and stops watching it. */
void imap_deselect(struct imap_session *s);
/* Logs and returns the message for a storage failure. */
void imap_log_storage_error(struct imap_session *s, const char *what,
			    const char *err);

/* Flags (imap_flags.c). */
/* Appends "(\Seen kw ...)" for maildir letters, \Recent if recent. */
void imap_flags_format(struct buf *out, const struct mailbox *mb,
		       const char *letters, bool recent);
/*
 * Converts IMAP flags to maildir letters (sorted, in out[48]); keywords
 * get letters from mb (created when create is true; with mb NULL they
 * are dropped). Returns 0, or -1 with a message for BAD (*bad true) or NO.
 */
int imap_flags_parse(struct mailbox *mb, char **flags, size_t n, bool create,
		     char out[48], const char **msg, bool *bad);
/* Combines letter sets: op '+' adds, '-' removes, '=' replaces. */
void imap_flags_apply(const char *old, const char *change, char op,
		      char out[48]);
/* Returns the keyword letter of name in mb, or 0. */
char imap_keyword_letter(void *mb, const char *name);

/* Command handlers: return 0 when done (reply sent), 1 when async. */
typedef int (*imap_cmd_fn)(struct imap_session *s, struct imap_parser *p);

int imap_cmd_capability(struct imap_session *s, struct imap_parser *p);
int imap_cmd_noop(struct imap_session *s, struct imap_parser *p);
int imap_cmd_logout(struct imap_session *s, struct imap_parser *p);
int imap_cmd_login(struct imap_session *s, struct imap_parser *p);
int imap_cmd_authenticate(struct imap_session *s, struct imap_parser *p);
int imap_cmd_starttls(struct imap_session *s, struct imap_parser *p);
int imap_cmd_id(struct imap_session *s, struct imap_parser *p);
/* Handles one response line of a running AUTHENTICATE. */
void imap_auth_line(struct imap_session *s, const char *line, size_t len);
/* Ends a running AUTHENTICATE without a reply. */
void imap_auth_abort(struct imap_session *s);
/* Logs a failed login and sends its NO after auth_failure_delay. */
void imap_login_failed(struct imap_session *s, const char *user,
		       const char *reason);
/*
 * Finishes a login with the account from the directory (taken over, so
 * the caller must not free it): checks IMAP access and replies. Returns 1
 * when the NO is delayed (the command went asynchronous), else 0.
 */
int imap_login_complete(struct imap_session *s, struct account *acct,
			const char *user);
int imap_cmd_namespace(struct imap_session *s, struct imap_parser *p);

int imap_cmd_select(struct imap_session *s, struct imap_parser *p);
int imap_cmd_examine(struct imap_session *s, struct imap_parser *p);
int imap_cmd_create(struct imap_session *s, struct imap_parser *p);
int imap_cmd_delete(struct imap_session *s, struct imap_parser *p);
int imap_cmd_rename(struct imap_session *s, struct imap_parser *p);
int imap_cmd_subscribe(struct imap_session *s, struct imap_parser *p);
int imap_cmd_unsubscribe(struct imap_session *s, struct imap_parser *p);
int imap_cmd_status(struct imap_session *s, struct imap_parser *p);
int imap_cmd_check(struct imap_session *s, struct imap_parser *p);
int imap_cmd_close(struct imap_session *s, struct imap_parser *p);
int imap_cmd_unselect(struct imap_session *s, struct imap_parser *p);

int imap_cmd_list(struct imap_session *s, struct imap_parser *p);
int imap_cmd_lsub(struct imap_session *s, struct imap_parser *p);

int imap_cmd_fetch(struct imap_session *s, struct imap_parser *p);
void imap_fetch_continue(struct imap_session *s);
void imap_fetch_free(struct imap_session *s);

int imap_cmd_search(struct imap_session *s, struct imap_parser *p);
int imap_cmd_store(struct imap_session *s, struct imap_parser *p);
int imap_cmd_expunge(struct imap_session *s, struct imap_parser *p);
int imap_cmd_copy(struct imap_session *s, struct imap_parser *p);
int imap_cmd_move(struct imap_session *s, struct imap_parser *p);
int imap_cmd_append(struct imap_session *s, struct imap_parser *p);

int imap_cmd_idle(struct imap_session *s, struct imap_parser *p);
/* Handles the line that ends IDLE. */
void imap_idle_line(struct imap_session *s, const char *line, size_t len);
/* Called (debounced) when the selected folder changed on disk. */
void imap_folder_changed(void *arg);

/*
 * Parses a mailbox argument (astring), validates it as modified UTF-7
 * and returns the canonical name, or NULL after replying BAD.
 */
char *imap_parse_mailbox_arg(struct imap_session *s, struct imap_parser *p);
/* Returns true if the folder exists for the logged-in account. */
bool imap_mailbox_exists(struct imap_session *s, const char *name);
/*
 * Resolves a sequence set (or UID set when s->uid) against the selected
 * mailbox into positions (0-based, ascending). Returns the count, or -1
 * after replying BAD for a sequence number beyond the mailbox.
 */
long imap_resolve_set(struct imap_session *s, const struct imap_seqset *set,
		      size_t **out);
/* Appends s as a quoted string, escaping '"' and '\\'. */
void imap_append_quoted(struct buf *b, const char *s);
/* Largest message file read into memory for FETCH or SEARCH. */
#define IMAP_MESSAGE_MAX ((off_t)1 << 30)
/* Appends message i of the selected mailbox to out; -1 if it is gone. */
int imap_read_message(struct imap_session *s, size_t i, struct buf *out);
/* Formats INTERNALDATE ("dd-Mon-yyyy hh:mm:ss +zzzz", 26 bytes + NUL). */
void imap_format_date_time(char out[32], time_t t);

#endif
