/* The interposed behaviour, one ps_hook_<name> per exported function (see interpose.def). */
#ifndef POOLSHIM_HOOKS_H
#define POOLSHIM_HOOKS_H

#include <mysql.h>

#define PS_HOOK(ret, name, params, args) ret ps_hook_##name params;
#include "poolshim/interpose.def"
#undef PS_HOOK

#endif
