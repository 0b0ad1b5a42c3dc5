/*
 * server.h -- the MCP server: JSON-RPC dispatch for both protocol eras over stdio.
 *
 * Legacy era (2024-11-05 .. 2025-11-25): initialize with version negotiation,
 * notifications/initialized, ping, tools/list (cursor pages), tools/call, logging/setLevel
 * with notifications/message, progress, notifications/cancelled, batches in 2025-03-26.
 * Modern era (2026-07-28): server/discover, per-request _meta protocol version and client
 * capabilities, -32022 for unknown versions, resultType, ttlMs/cacheScope, -32601 for the
 * methods that era removed.
 *
 * Concurrency: the main thread reads stdin and answers cheap methods at once; tools/call
 * runs on the worker pool, so a long call never blocks ping, tools/list, another call or
 * a cancellation. A ticker thread sends progress heartbeats for long calls that asked for
 * progress. stdout carries only JSON-RPC lines (mcp/rpc.h).
 *
 * Owns:    the registry, the in-flight table, the pool; borrows struct tools.
 * Returns: server_run() returns the process exit status (0 on EOF or SIGTERM/SIGINT,
 *          after cancelling running calls).
 */
#ifndef MCP_SERVER_H
#define MCP_SERVER_H

#include "config.h"
#include "tools/tool.h"

#define MCP_NAME          "sandbox-mcp"
#define MCP_LEGACY_LATEST "2025-11-25"
#define MCP_MODERN        "2026-07-28"

/* Runs the stdio server until EOF or a termination signal. */
int server_run(const struct config *cfg, struct tools *t, int in_fd, int out_fd);

#endif
