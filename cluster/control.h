/*
 * control - the local control socket RUN_DIR/control.sock
 *
 * Protocol: a client connects to the unix stream socket and sends one
 * line (LF or CRLF ends it; case and spaces around the words do not
 * matter). The server responds, then closes the connection.
 *
 * "status" or "status json" get one header line, then the report:
 *
 *     +OK healthy          the report follows; this node is healthy
 *     +OK unhealthy        the report follows; a check failed
 *     +OK unchecked        the report follows; no check failed, but one
 *                          has not finished yet (just after start)
 *     -ERR reason          nothing follows
 *
 * The actions get one line, "+OK text" when they succeeded or "-ERR
 * reason", possibly after a wait (the bounds are in cluster_actions.c):
 *
 *     promote        make this node active (replicated mode); refused
 *                    unless it is promotable (see promotion.h)
 *     promote force  the same without the promotability check
 *     demote         make this node standby: its sessions are closed as
 *                    on shutdown
 *     announce       multicast a heartbeat with the current data
 *                    generation; "+OK announced" once CPG delivered it
 *                    back to this process (so every member has it),
 *                    "-ERR cluster unavailable" at once without CPG,
 *                    "-ERR timeout" after 2 s
 *
 * The server serves clients on the caller's libev loop without ever
 * blocking: a request longer than CONTROL_REQUEST_MAX bytes gets an
 * error, a client that takes longer than CONTROL_TIMEOUT seconds to send
 * its request or read the answer is dropped, and at most
 * CONTROL_CLIENTS_MAX clients are served at once (the next get
 * "-ERR busy"). The socket file has mode 0660 and belongs to the user
 * the process runs as.
 */
#ifndef HAPOST_CLUSTER_CONTROL_H
#define HAPOST_CLUSTER_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "buf.h"
#include "heartbeat.h"

#define CONTROL_SOCKET_NAME "control.sock"
#define CONTROL_REQUEST_MAX 256
#define CONTROL_TIMEOUT 5.0
#define CONTROL_CLIENTS_MAX 16
#define CONTROL_HEALTHY "+OK healthy"
#define CONTROL_UNHEALTHY "+OK unhealthy"
#define CONTROL_UNCHECKED "+OK unchecked"

enum control_command {
	CONTROL_STATUS_TEXT,
	CONTROL_STATUS_JSON,
	CONTROL_PROMOTE,
	CONTROL_PROMOTE_FORCE,
	CONTROL_DEMOTE,
	CONTROL_ANNOUNCE,
};

/* The request line of cmd, as control_parse_request() accepts it. */
const char *control_command_name(enum control_command cmd);

/*
 * Parses one request line of len bytes (the LF removed; a final CR is
 * allowed). Returns 0, or -1 with a reason fit to send back in err.
 */
int control_parse_request(const char *line, size_t len,
			  enum control_command *cmd, char *err, size_t errlen);
/*
 * Parses a response header line (no LF). Returns 0 with *health set for
 * one of the three "+OK ..." lines, or -1 with the server's reason (or
 * "invalid response") in err.
 */
int control_parse_response(const char *line, enum health_state *health,
			   char *err, size_t errlen);
/*
 * Parses an action's answer line (no LF). Returns 0 for "+OK text" and
 * -1 for "-ERR reason" or an invalid line; either way copies the text,
 * the reason or "invalid response ..." into text, with control bytes
 * replaced.
 */
int control_parse_action_reply(const char *line, char *text, size_t textlen);

/* Fills body with the report for cmd and returns this node's health. */
typedef enum health_state (*control_render_fn)(enum control_command cmd,
					       struct buf *body, void *arg);
/*
 * Starts the action cmd for the request with this id and returns the
 * number of seconds within which the owner answers it with
 * control_reply(), which it may call before returning. The server drops
 * a client CONTROL_TIMEOUT seconds after that bound.
 */
typedef double (*control_action_fn)(enum control_command cmd, uint64_t id,
				    void *arg);

struct control_server;

/*
 * Binds path (replacing a stale socket, never another kind of file) and
 * serves it on loop. action may be NULL: the actions then get "-ERR".
 * Returns NULL with the reason in err.
 */
struct control_server *control_server_open(struct ev_loop *loop,
					   const char *path,
					   control_render_fn render,
					   control_action_fn action, void *arg,
					   char *err, size_t errlen);
/*
 * Sends line ("+OK ..." or "-ERR ...", without LF) to the client of
 * request id. Does nothing when that client is gone (it timed out or
 * closed), so the owner need not track clients.
 */
void control_reply(struct control_server *s, uint64_t id, const char *line);
/*
 * Closes every client and the socket, removes the socket file if it is
 * still the one this server made, and sets *sp to NULL.
 */
void control_server_close(struct control_server **sp);

#endif
