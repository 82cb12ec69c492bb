// Runs before anything else in the process: a SIGHUP (`systemctl reload`, a terminal closing)
// that arrives while the Swift runtime and the libraries start up must not kill the broker
// before it installs its handler. An ELF pre-initialisation function runs right after the
// dynamic loader has relocated the program, before the constructors of every shared library
// and before the Swift runtime; `main` comes milliseconds later.
#include "CStartup.h"

#include <signal.h>

static volatile int ignored_early = 0;

static void broker_ignore_sighup(int argc, char **argv, char **envp) {
    (void)argc;
    (void)argv;
    (void)envp;
    signal(SIGHUP, SIG_IGN);
    ignored_early = 1;
}

#if defined(__linux__)
__attribute__((section(".preinit_array"), used)) static void (*const broker_preinit)(int, char **, char **) =
    broker_ignore_sighup;
#else
__attribute__((constructor(101))) static void broker_constructor(void) { broker_ignore_sighup(0, 0, 0); }
#endif

int broker_startup_ignores_sighup(void) { return ignored_early; }
