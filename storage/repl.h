/*
 * repl - the writers' side of replicated storage
 *
 * With storage_mode = replicated, every process that changes data_dir
 * (protocol workers, the queue manager, hapostctl) describes each change
 * in a batch and hands it to the local replicator process over the unix
 * socket RUN_DIR/repl.sock before it publishes the change locally:
 *
 *     b = repl_batch_new();
 *     repl_add_file(b, "queue/messages/ID", "/srv/hapost/queue/tmp/ID");
 *     if (repl_commit(b, err, sizeof(err)) < 0)
 *             -> refuse (SMTP 451, IMAP NO), remove the temporary file
 *     rename(tmp, final); fsync the directory
 *     repl_done();
 *
 * repl_commit() returns once the replicator says the change may be
 * published: the peer applied and synced it (in sync), or the node runs
 * without an in-sync peer and replication_require_peer is off
 * (degraded, catching up). It fails when replication_require_peer is on
 * and no peer is in sync, or when the replicator does not answer within
 * replication_timeout plus a second. repl_done() tells the replicator
 * that the caller's local publish is finished; catch-up waits for it
 * before its last comparison. A process that exits counts as done.
 *
 * Ordering: the replicator forwards batches in the order their commits
 * arrive, and a process waits for each commit's reply before the next,
 * so the peer applies one process's changes in the order the process
 * made them. A change that another process can only see after its
 * publish comes later in the stream than the change itself (replicate,
 * then publish). A repl_commit() made while a repl_commit_send() batch
 * waits for its reply first calls the hook of repl_set_before_commit(),
 * which lands that batch. Without a hook the two batches are
 * independent changes (new queue entries, and a change of a mailbox or
 * a table), and neither is published before its own reply.
 *
 * In shared mode (or before repl_init()) every function is a no-op and
 * repl_commit() returns 0 at once, so callers need no mode checks.
 *
 * Paths are relative to data_dir, without "." or ".." components;
 * repl_rel() turns an absolute path under data_dir into one.
 */
#ifndef HAPOST_REPL_H
#define HAPOST_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cfg;
struct repl_batch;

/* Call once per process, after the fork; connects on first commit. */
void repl_init(const struct cfg *cfg);
/* True in storage_mode = replicated. */
bool repl_enabled(void);
/* The part of abs after "DATA_DIR/", or NULL when abs is not under it. */
const char *repl_rel(const char *abs);

struct repl_batch *repl_batch_new(void);
/*
 * The file at local_path (an absolute path; its content must not change
 * until repl_commit() returns) becomes rel on the peer, with its mode
 * and modification time. The replicator reads the content itself.
 */
void repl_add_file(struct repl_batch *b, const char *rel,
		   const char *local_path);
/* rel becomes data on the peer (small files such as tables). */
void repl_add_data(struct repl_batch *b, const char *rel, const void *data,
		   size_t len, mode_t mode);
/* data is appended to rel on the peer (created when missing). */
void repl_add_append(struct repl_batch *b, const char *rel, const void *data,
		     size_t len);
void repl_add_rename(struct repl_batch *b, const char *from,
		     const char *to);
/* A missing file is not an error on the peer. */
void repl_add_unlink(struct repl_batch *b, const char *rel);
/* With missing parents; an existing directory is fine. */
void repl_add_mkdir(struct repl_batch *b, const char *rel, mode_t mode);
/* Removes a directory and everything below it. */
void repl_add_rmtree(struct repl_batch *b, const char *rel);
bool repl_batch_empty(const struct repl_batch *b);
/*
 * Sends the batch and waits for the answer. Frees b in every case.
 * Returns 0 when the caller may publish, or -1 with the reason in err.
 */
int repl_commit(struct repl_batch *b, char *err, size_t errlen);
/*
 * repl_commit() in two halves, on a connection of their own, so that
 * repl_commit() still works while their reply is awaited.
 * repl_commit_send() sends the batch (freed in every case) and returns
 * 0, or -1 with the reason in err, and then nothing waits. After a 0,
 * repl_commit_fd() becomes readable when the reply arrives and
 * repl_commit_wait() reads it, blocking until repl_commit_remaining()
 * seconds have passed, and returns as repl_commit() does. One split
 * commit at a time: a second send before the wait fails. In shared mode
 * send and wait return 0 at once and the descriptor is -1.
 */
int repl_commit_send(struct repl_batch *b, char *err, size_t errlen);
/* The descriptor of the awaited reply, or -1 when none is awaited. */
int repl_commit_fd(void);
/* Seconds until the awaited reply times out (0 when past). */
double repl_commit_remaining(void);
int repl_commit_wait(char *err, size_t errlen);
/*
 * Sets the function that repl_commit() calls while a repl_commit_send()
 * batch waits for its reply. It must wait for that reply and publish,
 * so the catch-up, which waits for every publish, is not held up.
 */
void repl_set_before_commit(void (*fn)(void));
/* The last committed batch is published locally. */
void repl_done(void);
/* Drops the connection to the replicator (before exec or exit). */
void repl_close(void);

#endif
