/*
 * test_registry.c -- the backend table: which backend the environment selects, the
 * names, each backend's environment variables, the prepare and open steps, and the
 * secret headers the backends register for the debug log. No network.
 */
#include "backends/registry.h"
#include "net/http_log.h"
#include "util/log.h"
#include "tap.h"

#include <stdlib.h>

static const char *const env_vars[] = { "OPEN_SANDBOX_DOMAIN", "OPEN_SANDBOX_API_KEY",
	"OPEN_SANDBOX_PROTOCOL", "X_API_KEY", "E2B_API_KEY", "E2B_DOMAIN", "E2B_API_URL",
	"E2B_SANDBOX_URL", "SCHEME", "PROTOCOL" };

static void
env_clear(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

static const char *
detected(void)
{
	return backend_detect()->name;
}

static void
test_detect(void)
{
	static const char *const e2b_vars[] = { "X_API_KEY", "E2B_API_KEY", "E2B_DOMAIN",
		"E2B_API_URL", "E2B_SANDBOX_URL" };

	env_clear();
	is_str(detected(), "local", "no platform environment: local");
	ok(backend_detect() == backend_find("local"), "the default row is local's");
	setenv("OPEN_SANDBOX_API_KEY", "k", 1);
	is_str(detected(), "opensandbox", "OPEN_SANDBOX_API_KEY selects opensandbox");
	setenv("X_API_KEY", "k", 1);
	is_str(detected(), "opensandbox", "opensandbox's environment wins over e2b's");
	env_clear();
	setenv("OPEN_SANDBOX_DOMAIN", "h:1", 1);
	is_str(detected(), "opensandbox", "OPEN_SANDBOX_DOMAIN selects opensandbox");
	env_clear();
	setenv("OPEN_SANDBOX_PROTOCOL", "http", 1);
	is_str(detected(), "local", "OPEN_SANDBOX_PROTOCOL alone selects nothing");
	env_clear();
	for (size_t i = 0; i < sizeof(e2b_vars) / sizeof(e2b_vars[0]); i++) {
		setenv(e2b_vars[i], "v", 1);
		is_str(detected(), "e2b", "%s selects e2b", e2b_vars[i]);
		unsetenv(e2b_vars[i]);
	}
	setenv("X_API_KEY", "", 1);
	setenv("OPEN_SANDBOX_API_KEY", "", 1);
	is_str(detected(), "local", "empty variables count as unset");
	env_clear();
}

static void
test_names(void)
{
	char names[BACKEND_NAMES_MAX], small[12];

	is_str(backend_names(names, sizeof(names)), "local, opensandbox or e2b",
	    "the names for the unknown-backend sentence, in table order");
	is_str(backend_names(small, sizeof(small)), "local", "a short buffer is cut by name");
	ok(backend_find("e2b") != NULL && strcmp(backend_find("e2b")->name, "e2b") == 0,
	    "backend_find finds a row by name");
	ok(backend_find("nope") == NULL && backend_find("E2B") == NULL && backend_find("") == NULL,
	    "unknown names (and other cases) are not found");
	ok(!backend_find("local")->remote && backend_find("opensandbox")->remote &&
	        backend_find("e2b")->remote,
	    "only the platforms are remote (doctor's checks)");
	ok(backend_find("local")->describe != NULL, "local describes itself to doctor");
}

static void
test_settle(void)
{
	struct config cfg = { 0 };

	env_clear();
	setenv("X_API_KEY", "xkey", 1);
	setenv("E2B_API_KEY", "ekey", 1);
	setenv("E2B_DOMAIN", "example.org", 1);
	setenv("SCHEME", "http", 1);
	setenv("PROTOCOL", "private", 1);
	setenv("E2B_API_URL", "http://api", 1);
	setenv("E2B_SANDBOX_URL", "http://sbx", 1);
	setenv("OPEN_SANDBOX_DOMAIN", "os.example", 1);
	backend_settle(backend_find("e2b"), &cfg);
	is_str(cfg.api_key, "xkey", "e2b: X_API_KEY before E2B_API_KEY");
	is_str(cfg.domain, "example.org", "e2b: E2B_DOMAIN");
	is_str(cfg.scheme, "http", "e2b: SCHEME");
	is_str(cfg.routing, "private", "e2b: PROTOCOL");
	is_str(cfg.api_url, "http://api", "e2b: E2B_API_URL");
	is_str(cfg.sandbox_url, "http://sbx", "e2b: E2B_SANDBOX_URL");

	memset(&cfg, 0, sizeof(cfg));
	unsetenv("X_API_KEY");
	cfg.domain = "flag.example";
	backend_settle(backend_find("e2b"), &cfg);
	is_str(cfg.api_key, "ekey", "e2b: E2B_API_KEY without X_API_KEY");
	is_str(cfg.domain, "flag.example", "e2b: a flag wins over the environment");

	memset(&cfg, 0, sizeof(cfg));
	setenv("OPEN_SANDBOX_API_KEY", "oskey", 1);
	setenv("OPEN_SANDBOX_PROTOCOL", "https", 1);
	backend_settle(backend_find("opensandbox"), &cfg);
	ok(cfg.api_key != NULL && strcmp(cfg.api_key, "oskey") == 0 && cfg.domain != NULL &&
	        strcmp(cfg.domain, "os.example") == 0 && cfg.scheme != NULL &&
	        strcmp(cfg.scheme, "https") == 0,
	    "opensandbox: OPEN_SANDBOX_*");
	ok(cfg.routing == NULL && cfg.api_url == NULL && cfg.sandbox_url == NULL,
	    "opensandbox: e2b's variables are not read");

	memset(&cfg, 0, sizeof(cfg));
	backend_settle(backend_find("local"), &cfg);
	ok(cfg.api_key == NULL && cfg.domain == NULL && cfg.scheme == NULL,
	    "local: reads no platform variable");
	env_clear();
}

static void
test_prepare_open(void)
{
	struct config cfg = { 0 };
	struct backend_handle bh = { 0 };
	char *owned[BACKEND_OWNED_MAX] = { NULL, NULL };
	struct err e = { 0 };
	int rc;

	cfg.backend = "local";
	is_int(backend_prepare(backend_find("local"), &cfg, owned, &e), 0,
	    "local: nothing to prepare");
	cfg.backend = "e2b";
	is_int(backend_prepare(backend_find("e2b"), &cfg, owned, &e), 0,
	    "e2b without --k8s: nothing to prepare");
	ok(owned[0] == NULL && owned[1] == NULL, "... and nothing allocated");

	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = "opensandbox";
	cfg.domain = "127.0.0.1:1";
	cfg.timeout_s = 5;
	rc = backend_open(backend_find("opensandbox"), &cfg, &bh, &e);
	ok(rc == 0 && bh.ops != NULL && strcmp(bh.ops->name, "opensandbox") == 0,
	    "backend_open calls the row's constructor (no I/O): %s", e.msg);
	if (rc == 0)
		bh.ops->free(bh.b);
}

static char last[4096];

static void
hook(enum log_level lvl, const char *module, const char *msg, void *arg)
{
	(void)lvl;
	(void)arg;
	if (strcmp(module, "http") == 0)
		snprintf(last, sizeof(last), "%s", msg);
}

static void
test_secrets(void)
{
	const char *head = "GET / HTTP/1.1\r\nX-API-Key: S3CRET1\r\nX-Access-Token: S3CRET2\r\n"
	                   "OPEN-SANDBOX-API-KEY: S3CRET3\r\nx-execd-access-token: S3CRET4\r\n"
	                   "OPENSANDBOX-EGRESS-AUTH: S3CRET5\r\nE2B-API-Key: S3CRET6\r\n"
	                   "X-E2B-Access-Token: S3CRET7\r\nX-Request-ID: visible\r\n\r\n";
	struct err e = { 0 };

	log_set_level(LOG_DEBUG);
	log_set_hook(hook, NULL, LOG_DEBUG);
	http_log_head(">", head, strlen(head));
	ok(strstr(last, "S3CRET1") != NULL,
	    "before registration X-API-Key is not a secret "
	    "to the net layer");
	is_int(backend_register_secrets(&e), 0, "the backends register their headers");
	is_int(backend_register_secrets(&e), 0, "registering twice is harmless");
	last[0] = '\0';
	http_log_head(">", head, strlen(head));
	ok(last[0] != '\0' && strstr(last, "S3CRET") == NULL &&
	        strstr(last, "X-Request-ID: visible") != NULL,
	    "every backend's credential header is redacted, others are not: %s", last);
	log_set_hook(NULL, NULL, LOG__MAX);
	log_set_level(LOG_WARN);
}

int
main(void)
{
	test_detect();
	test_names();
	test_settle();
	test_prepare_open();
	test_secrets();
	return done_testing();
}
