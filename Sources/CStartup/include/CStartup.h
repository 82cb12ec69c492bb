#ifndef BROKER_C_STARTUP_H
#define BROKER_C_STARTUP_H

/// Whether SIGHUP was set to be ignored before any library or Swift code ran (it always is on
/// Linux; calling this also keeps the startup code linked into the executable).
int broker_startup_ignores_sighup(void);

#endif
