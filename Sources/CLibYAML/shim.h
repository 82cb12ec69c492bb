// libyaml (Debian's libyaml-dev 0.2): the rule loader reads its event API directly.
#ifndef BROKER_CLIBYAML_SHIM_H
#define BROKER_CLIBYAML_SHIM_H

#include <yaml.h>

#endif
