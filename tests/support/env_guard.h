/*
 * env_guard.h - a unit test's own process environment, put back afterwards.
 *
 * Saves and unsets every variable whose name starts with one of the given
 * prefixes (AWS_*, PG*, ...), and points HOME at a fresh empty temp dir, so
 * nothing of the real environment leaks into what a test observes. Destroy
 * removes that dir and restores the variables and HOME as they were. Does
 * not set anything else: each test adds the variables it needs.
 *
 *   static const char *const scrubbed[] = {"AWS_", NULL};
 *   fx->env = cdc_env_guard_new(scrubbed, "/tmp/cdc_creds_XXXXXX");
 *   ... files under cdc_env_guard_home(fx->env) ...
 *   cdc_env_guard_destroy(fx->env);
 */
#ifndef CDC_TEST_ENV_GUARD_H
#define CDC_TEST_ENV_GUARD_H

typedef struct cdc_env_guard cdc_env_guard_t;

/* prefixes: NULL-terminated, borrowed (must outlive the guard). home_template
 * is a mkdtemp(3) template. Fails the running test on any error. */
cdc_env_guard_t *cdc_env_guard_new(const char *const *prefixes,
                                   const char *home_template);
/* The temp dir HOME points at; owned by the guard. */
const char *cdc_env_guard_home(const cdc_env_guard_t *g);
/* Remove the temp HOME with everything in it, unset the prefixed
 * variables, restore the saved ones and HOME, free. NULL ok. */
void cdc_env_guard_destroy(cdc_env_guard_t *g);

#endif
