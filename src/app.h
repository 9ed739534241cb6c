/*
 * app.h - the daemon: wiring of config, source, encoder, sink and offsets,
 * the event loop and signals.
 */
#ifndef CDC_APP_H
#define CDC_APP_H

#include "common/err.h"
#include "config/config.h"

/* Run until SIGTERM/SIGINT (CDC_OK after a clean shutdown) or a fatal error. */
cdc_err_t cdc_app_run(const cdc_config_t *c, char *errstr, size_t errstr_size);

#endif
