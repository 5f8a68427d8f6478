/* The exported interposers, generated from interpose.def: each forwards to its hook. */
#include "poolshim/hooks.h"

#define PS_EXPORT __attribute__((visibility("default")))

#define PS_HOOK(ret, name, params, args)                                                           \
    PS_EXPORT ret name params                                                                      \
    {                                                                                              \
        return ps_hook_##name args;                                                                \
    }
#include "poolshim/interpose.def"
#undef PS_HOOK
