/*
 * local_checks - the synchronous health checks of this node
 *
 * Each check runs in the cluster process's event loop and returns quickly
 * on a local disk. NOTE: a hung filesystem under data_dir (NFS server
 * gone) blocks the loop in data_dir_probe() or queue_stats(); heartbeats
 * stop and the peer sees this node go stale, which is the right outcome,
 * but the control socket stops answering too.
 */
#ifndef HAPOST_CLUSTER_LOCAL_CHECKS_H
#define HAPOST_CLUSTER_LOCAL_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The file in data_dir that contains the data generation number. */
#define GENERATION_FILE "generation"

/*
 * Creates DATA_DIR/.cluster-probe.PID, writes a byte, fsyncs it and
 * removes it. Returns 0, or -1 with the failed step in err.
 */
int data_dir_probe(const char *data_dir, char *err, size_t errlen);
/*
 * Reads DATA_DIR/generation (a decimal number and a newline), creating it
 * durably with 1 when it is missing. Returns 0, or -1 with err when the
 * file cannot be read or created or does not hold a number from 1 up.
 */
int generation_read(const char *data_dir, uint64_t *out, char *err,
		    size_t errlen);
/*
 * Reads DATA_DIR/generation like generation_read() but never creates it:
 * a missing file gives 0, and so does a file that holds 0. In replicated
 * mode only the replicator writes the file.
 */
int generation_peek(const char *data_dir, uint64_t *out, char *err,
		    size_t errlen);
/*
 * Counts the entries of DATA_DIR/queue/messages and sets *oldest_age to
 * the age in seconds (at now) of the entry with the smallest queue ID, or
 * -1 when the queue is empty. Queue IDs start with the arrival time, so
 * the smallest ID is the oldest entry. NOTE: the time part of an ID wraps
 * after about 8.9 years, which can make a newer entry look oldest for the
 * wrap's duration.
 */
int queue_stats(const char *data_dir, time_t now, uint64_t *size,
		int64_t *oldest_age, char *err, size_t errlen);
/* Returns true when pid exists and is not a zombie. */
bool process_alive(pid_t pid);

#endif
