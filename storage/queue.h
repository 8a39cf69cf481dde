/*
 * queue - the mail queue under DATA_DIR/queue
 *
 * Layout:
 *   queue/tmp/ID        an entry being written; removed on abort, and
 *                       stale ones (older than one hour) by queue_cleanup
 *   queue/messages/ID   a committed entry: envelope header, blank line,
 *                       then the message exactly as it will be delivered
 *                       (CRLF line ends, Received: already prepended)
 *   queue/status/ID     append-only per-recipient results for ID
 *
 * An entry exists for the queue once queue/messages/ID exists; the writer
 * makes it durable (file fsync, rename, directory fsync) before
 * queue_writer_commit() returns, and only then may SMTP reply 250.
 * The status log records "delivered", "failed" and "deferred" lines, each
 * durable (fsync'd, or covered by one syncfs(2) for a batch of entries)
 * before the queue manager acts on it, and notices ("reported",
 * "warned") that say a report about a recipient was queued. When every
 * recipient is final the entry is removed: messages/ID first, then
 * status/ID.
 *
 * Queue IDs are 16 upper-case hex digits: arrival time in microseconds
 * (12 digits, wrapping) then 4 random digits, so they sort by arrival.
 *
 * Functions return 0 on success and -1 on failure with a message in err.
 */
#ifndef HAPOST_QUEUE_H
#define HAPOST_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define QUEUE_ID_LEN 16

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING,
	QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_FAILED,
};

struct queue_rcpt {
	char *address;	/* final recipient: an account address, lowercase */
	char *orig;	/* the address as given in RCPT TO */
	enum queue_rcpt_state state;
	unsigned attempts;
	time_t next_attempt; /* 0: now */
	char *last_error;    /* NULL when none */
	/* From the last result record of a remote attempt, else NULL. */
	char *dsn;   /* enhanced status code, "4.4.1" */
	char *relay; /* "mx.example.net[192.0.2.1]:25", or "-" for none */
	bool reported; /* its failure was reported to the sender */
	bool warned;   /* a delay warning listed it */
};

struct queue_envelope {
	char id[QUEUE_ID_LEN + 1];
	time_t arrival;
	char *sender;	/* "" for the null sender <> */
	char *client_ip;
	char *helo;
	char *auth_user; /* NULL when not authenticated */
	bool body_8bit;
	bool smtputf8;
	struct queue_rcpt *rcpts;
	size_t nrcpts;
	off_t msg_offset; /* where the message starts in messages/ID */
	size_t msg_size;
};

struct queue_writer;

/* Creates the queue directories if missing. */
int queue_init(const char *data_dir, char *err, size_t errlen);

/*
 * Starts a new entry for env (id and arrival are filled in by this call;
 * recipients' states are ignored). The message bytes follow with
 * queue_writer_write(). Returns NULL on failure.
 */
struct queue_writer *queue_writer_open(const char *data_dir,
				       struct queue_envelope *env, char *err,
				       size_t errlen);
int queue_writer_write(struct queue_writer *w, const void *data, size_t len);
/* Bytes of message written so far. */
size_t queue_writer_size(const struct queue_writer *w);
/* Makes the entry durable and visible; frees w in every case. */
int queue_writer_commit(struct queue_writer *w, char *err, size_t errlen);
/* Discards the entry; frees w. */
void queue_writer_abort(struct queue_writer *w);

/* One entry for queue_writer_commit_many(). */
struct queue_commit {
	struct queue_writer *writer; /* freed by the call, set to NULL */
	int error;		     /* 0 when committed */
	char reason[256];	     /* the failure, when error is not 0 */
	bool sync_failed;	     /* used by the commit itself */
};
/*
 * Commits n entries as queue_writer_commit() does, with one sync for all:
 * one syncfs(2) of the data_dir file system (or an fsync per file when
 * use_syncfs is false or syncfs fails), the renames, then one fsync of
 * queue/messages/. An entry with error 0 is durable and visible.
 */
void queue_writer_commit_many(struct queue_commit *v, size_t n,
			      bool use_syncfs);
/*
 * queue_writer_commit_many() in two halves, for an event loop that
 * serves other clients while the replicator works. queue_commit_start()
 * finishes the files, sends the replication batch and syncs the files
 * here. When queue_commit_fd() is not -1, the caller waits until it is
 * readable (or repl_commit_remaining() has passed) and then calls
 * queue_commit_finish(), which reads the reply and renames. Otherwise
 * queue_commit_finish() may follow at once. One commit at a time per
 * process, and v must stay in place between the two calls.
 */
void queue_commit_start(struct queue_commit *v, size_t n, bool use_syncfs);
int queue_commit_fd(void);
void queue_commit_finish(struct queue_commit *v, size_t n);

/* Lists committed IDs, sorted; *ids is a malloc'd array of strings. */
int queue_list(const char *data_dir, char ***ids, size_t *n, char *err,
	       size_t errlen);
void queue_list_free(char **ids, size_t n);
/* Reads the envelope and applies the status log. */
int queue_load(const char *data_dir, const char *id,
	       struct queue_envelope *env, char *err, size_t errlen);
void queue_envelope_free(struct queue_envelope *env);
/* Opens messages/ID read-only; the message is at env->msg_offset. */
int queue_open_message(const char *data_dir, const char *id);
/*
 * Appends one result for recipient index rcpt to status/ID and fsyncs it.
 * next_attempt and error are used by DEFERRED/FAILED; error may be NULL.
 * State DEFERRED is written as PENDING with attempts+1.
 */
int queue_mark(const char *data_dir, const char *id, size_t rcpt,
	       enum queue_rcpt_state state, time_t next_attempt,
	       const char *error, char *err, size_t errlen);
/* Removes a finished or deleted entry. */
int queue_remove(const char *data_dir, const char *id, char *err,
		 size_t errlen);
/*
 * Group commit of status records (queue_batch.c): queue_marks_add()
 * buffers records, queue_marks_commit() appends each entry's records and
 * makes all of them durable with one syncfs(2) of the data_dir file
 * system (or an fsync per file when use_syncfs is false or syncfs
 * fails) and returns the number of entries whose records are not
 * durable. A record counts only when queue_marks_result() returns 0.
 */
struct queue_marks;
struct queue_marks *queue_marks_new(const char *data_dir, bool use_syncfs);
void queue_marks_add(struct queue_marks *m, const char *id, size_t rcpt,
		     enum queue_rcpt_state state, time_t next_attempt,
		     const char *error);
size_t queue_marks_commit(struct queue_marks *m);
/*
 * queue_marks_add() with the details of a remote attempt: dsn is the
 * enhanced status code and relay the host that replied ("-" or NULL for
 * none). They are stored only with a non-empty error.
 */
void queue_marks_add_result(struct queue_marks *m, const char *id,
			    size_t rcpt, enum queue_rcpt_state state,
			    time_t next_attempt, const char *error,
			    const char *dsn, const char *relay);
/* Notices: records that change no state and count as no attempt. */
enum queue_notice {
	QUEUE_NOTICE_REPORTED, /* the failure was reported to the sender */
	QUEUE_NOTICE_WARNED,   /* a delay warning listed the recipient */
};
void queue_marks_add_notice(struct queue_marks *m, const char *id,
			    size_t rcpt, enum queue_notice notice);
int queue_marks_result(const struct queue_marks *m, const char *id, char *err,
		       size_t errlen);
void queue_marks_free(struct queue_marks *m);

/* One entry for queue_remove_many(). */
struct queue_removal {
	const char *id;
	int error;	  /* 0 when removed, ENOENT when already gone */
	char reason[256]; /* the failure, when error is not 0 */
};
/*
 * Removes finished entries as queue_remove() does, with one fsync of
 * queue/messages/ and one of queue/status/ for all of them.
 */
void queue_remove_many(const char *data_dir, struct queue_removal *v, size_t n);
/* Removes stale tmp files and status files without a message. */
void queue_cleanup(const char *data_dir);
/* Validates a queue ID's form (16 hex digits). */
bool queue_id_valid(const char *id);

#endif
